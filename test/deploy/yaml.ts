// A reader for the small YAML subset docker-compose.yml is written in (no YAML package is
// installed): block mappings and block sequences by indentation, plain, 'single'- and
// "double"-quoted scalars, flow sequences of scalars (`["CMD", "node"]`), `[]` and `{}`, and
// comments. Every scalar stays a string (compose converts types itself); a key with nothing
// after it and nothing nested is null. Anything else (anchors, aliases, tags, block scalars,
// multi-line scalars, flow mappings with content, tabs, duplicate keys) is an error naming the
// line, so the compose file cannot drift into syntax this reader would get wrong.

export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };
export type YamlMap = { [key: string]: YamlValue };

export class YamlSubsetError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = "YamlSubsetError";
  }
}

interface Line {
  /** 1-based line number in the source. */
  number: number;
  indent: number;
  /** The content without indentation and comment. */
  text: string;
}

/** Parses a document of the subset; the top level must be a mapping. */
export function parseYamlSubset(source: string): YamlMap {
  const lines = tokenize(source);
  if (lines.length === 0) return {};
  const state = { lines, index: 0 };
  const first = lines[0]!;
  if (first.indent !== 0) throw new YamlSubsetError(first.number, "the document must start at column 1");
  const value = parseBlock(state, 0);
  if (state.index < lines.length) {
    const line = lines[state.index]!;
    throw new YamlSubsetError(line.number, "unexpected indentation");
  }
  if (value === null || typeof value === "string" || Array.isArray(value)) throw new YamlSubsetError(first.number, "the document must be a mapping");
  return value;
}

function tokenize(source: string): Line[] {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, index) => {
    const number = index + 1;
    const indentMatch = /^[ \t]*/.exec(raw)![0];
    if (indentMatch.includes("\t")) throw new YamlSubsetError(number, "tabs are not allowed in indentation");
    const text = stripComment(raw.slice(indentMatch.length), number).trimEnd();
    if (text === "") return;
    if (text === "---" || text === "...") throw new YamlSubsetError(number, "document markers are not supported");
    lines.push({ number, indent: indentMatch.length, text });
  });
  return lines;
}

/** Removes a `#` comment that starts the line or follows whitespace, outside quotes. */
function stripComment(text: string, number: number): string {
  let quote: string | undefined;
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index]!;
    if (quote) {
      if (quote === '"' && char === "\\") index += 1;
      else if (char === quote) {
        if (quote === "'" && text[index + 1] === "'") index += 1;
        else quote = undefined;
      }
      continue;
    }
    if ((char === '"' || char === "'") && (index === 0 || /[\s:[,\-]/.test(text[index - 1]!))) quote = char;
    else if (char === "#" && (index === 0 || /\s/.test(text[index - 1]!))) return text.slice(0, index);
  }
  if (quote) throw new YamlSubsetError(number, "unterminated quoted string (multi-line strings are not supported)");
  return text;
}

interface State {
  lines: Line[];
  index: number;
}

/** Parses the block starting at the current line, whose indentation is `indent`. */
function parseBlock(state: State, indent: number): YamlValue {
  const line = state.lines[state.index]!;
  return isSequenceItem(line.text) ? parseSequence(state, indent) : parseMapping(state, indent);
}

function isSequenceItem(text: string): boolean {
  return text === "-" || text.startsWith("- ");
}

function parseSequence(state: State, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (state.index < state.lines.length) {
    const line = state.lines[state.index]!;
    if (line.indent < indent) break;
    if (line.indent > indent) throw new YamlSubsetError(line.number, "unexpected indentation in a sequence");
    if (!isSequenceItem(line.text)) break;
    const rest = line.text.slice(1).trimStart();
    if (rest === "") {
      state.index += 1;
      items.push(nestedValue(state, indent));
      continue;
    }
    const itemIndent = indent + (line.text.length - rest.length);
    if (splitKey(rest, line.number) !== undefined) {
      // "- key: value": a mapping whose first line shares the dash's line; its other keys align with it.
      state.lines[state.index] = { number: line.number, indent: itemIndent, text: rest };
      items.push(parseMapping(state, itemIndent));
    } else {
      if (isSequenceItem(rest)) throw new YamlSubsetError(line.number, "nested \"- -\" sequences are not supported");
      state.index += 1;
      items.push(parseScalarOrFlow(rest, line.number));
    }
  }
  return items;
}

function parseMapping(state: State, indent: number): YamlMap {
  const map: YamlMap = {};
  while (state.index < state.lines.length) {
    const line = state.lines[state.index]!;
    if (line.indent < indent) break;
    if (line.indent > indent) throw new YamlSubsetError(line.number, "unexpected indentation in a mapping");
    if (isSequenceItem(line.text)) throw new YamlSubsetError(line.number, "a sequence item where a key was expected");
    const pair = splitKey(line.text, line.number);
    if (pair === undefined) throw new YamlSubsetError(line.number, `expected "key: value", got "${line.text}"`);
    const [key, rest] = pair;
    if (Object.hasOwn(map, key)) throw new YamlSubsetError(line.number, `duplicate key "${key}"`);
    state.index += 1;
    map[key] = rest === "" ? nestedValue(state, indent, true) : parseScalarOrFlow(rest, line.number);
  }
  return map;
}

/** The value under a line that ends in `key:` or `-`: a deeper block, a same-level sequence (after a key), or null. */
function nestedValue(state: State, indent: number, sequenceMayAlign = false): YamlValue {
  const next = state.lines[state.index];
  if (next === undefined) return null;
  if (next.indent > indent) return parseBlock(state, next.indent);
  if (sequenceMayAlign && next.indent === indent && isSequenceItem(next.text)) return parseSequence(state, indent);
  return null;
}

/** Splits `key: rest` (or `key:`) outside quotes; undefined when the text is not a mapping entry. */
function splitKey(text: string, number: number): [string, string] | undefined {
  let keyEnd: number;
  let key: string;
  if (text.startsWith('"') || text.startsWith("'")) {
    const end = quotedEnd(text, 0, number);
    key = parseQuoted(text.slice(0, end + 1), number);
    keyEnd = end + 1;
    if (text[keyEnd] !== ":") return undefined;
  } else {
    const match = /^([^\s"'#[\]{},][^:]*?):(?:\s|$)/.exec(text);
    if (!match) return undefined;
    key = match[1]!.trim();
    keyEnd = match[1]!.length;
  }
  const after = text.slice(keyEnd + 1);
  if (after !== "" && !/^\s/.test(after)) return undefined;
  return [key, after.trim()];
}

/** Index of the closing quote of the quoted scalar starting at `start`. */
function quotedEnd(text: string, start: number, number: number): number {
  const quote = text[start]!;
  for (let index = start + 1; index < text.length; index += 1) {
    const char = text[index]!;
    if (quote === '"' && char === "\\") {
      index += 1;
    } else if (char === quote) {
      if (quote === "'" && text[index + 1] === "'") index += 1;
      else return index;
    }
  }
  throw new YamlSubsetError(number, "unterminated quoted string");
}

const DOUBLE_QUOTE_ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", n: "\n", t: "\t", r: "\r", "0": "\0", " ": " " };

function parseQuoted(text: string, number: number): string {
  const quote = text[0]!;
  if (text.length < 2 || text[text.length - 1] !== quote || quotedEnd(text, 0, number) !== text.length - 1) {
    throw new YamlSubsetError(number, `text after a quoted string: ${text}`);
  }
  const body = text.slice(1, -1);
  if (quote === "'") return body.replaceAll("''", "'");
  return body.replace(/\\(.)/g, (_match, escape: string) => {
    const replaced = DOUBLE_QUOTE_ESCAPES[escape];
    if (replaced === undefined) throw new YamlSubsetError(number, `unsupported escape \\${escape}`);
    return replaced;
  });
}

function parseScalarOrFlow(text: string, number: number): YamlValue {
  if (text.startsWith("[")) return parseFlowSequence(text, number);
  if (text === "{}") return {};
  if (text.startsWith("{")) throw new YamlSubsetError(number, "flow mappings are not supported; use a block mapping");
  return parseScalar(text, number);
}

function parseScalar(text: string, number: number): string {
  if (text.startsWith('"') || text.startsWith("'")) return parseQuoted(text, number);
  if (/^[&*!|>%@`]/.test(text)) throw new YamlSubsetError(number, `unsupported YAML syntax: ${text}`);
  if (/:\s/.test(text) || text.endsWith(":")) throw new YamlSubsetError(number, `a plain scalar with ": " inside; quote it: ${text}`);
  return text;
}

function parseFlowSequence(text: string, number: number): string[] {
  if (!text.endsWith("]")) throw new YamlSubsetError(number, "a flow sequence must end on its line with ]");
  const items: string[] = [];
  let index = 1;
  const skipSpace = () => { while (text[index] === " ") index += 1; };
  skipSpace();
  if (text[index] === "]" && index === text.length - 1) return items;
  for (;;) {
    skipSpace();
    let item: string;
    if (text[index] === '"' || text[index] === "'") {
      const end = quotedEnd(text, index, number);
      item = parseQuoted(text.slice(index, end + 1), number);
      index = end + 1;
    } else {
      const end = text.slice(index).search(/[,\]]/);
      if (end < 0) throw new YamlSubsetError(number, "unterminated flow sequence");
      item = text.slice(index, index + end).trim();
      if (item === "" || /[[{]/.test(item)) throw new YamlSubsetError(number, "flow sequences hold scalars only");
      item = parseScalar(item, number);
      index += end;
    }
    items.push(item);
    skipSpace();
    if (text[index] === ",") {
      index += 1;
      continue;
    }
    if (text[index] === "]" && index === text.length - 1) return items;
    throw new YamlSubsetError(number, "expected , or ] in a flow sequence");
  }
}

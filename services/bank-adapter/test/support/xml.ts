// A small strict XML parser for tests of the documents the bank writes (no package needed):
// one root element, elements with attributes, text with the five predefined entities and
// character references, an optional XML declaration, comments skipped. It refuses anything
// malformed: mismatched or unclosed tags, a bare '<' or '&' in text, duplicate attributes,
// content after the root. Default namespaces (xmlns="…") are resolved onto every element.

export interface XmlElement {
  name: string;
  namespace: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (concatenated text nodes, entities decoded). */
  text: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9._:-]*/;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function parseXml(source: string): XmlElement {
  let position = 0;
  const fail = (problem: string): never => {
    throw new Error(`XML: ${problem} at offset ${position}`);
  };
  const startsWith = (text: string) => source.startsWith(text, position);
  const skipSpace = () => {
    while (position < source.length && /\s/.test(source[position]!)) position += 1;
  };
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (!startsWith("<!--")) return;
      const end = source.indexOf("-->", position + 4);
      if (end < 0) fail("unclosed comment");
      position = end + 3;
    }
  };
  const readName = (): string => {
    const match = NAME.exec(source.slice(position));
    if (!match) fail("expected a name");
    position += match![0].length;
    return match![0];
  };
  const decode = (raw: string): string => raw.replace(/&([^;]*);|&|</g, (whole, entity: string | undefined) => {
    if (whole === "<") fail("bare '<' in text");
    if (entity === undefined) fail("bare '&' in text");
    if (entity!.startsWith("#x")) return String.fromCodePoint(Number.parseInt(entity!.slice(2), 16));
    if (entity!.startsWith("#")) return String.fromCodePoint(Number.parseInt(entity!.slice(1), 10));
    const value = ENTITIES[entity!];
    if (value === undefined) fail(`unknown entity &${entity};`);
    return value!;
  });

  const readElement = (parentNamespace: string): XmlElement => {
    if (!startsWith("<")) fail("expected '<'");
    position += 1;
    const name = readName();
    const attributes: Record<string, string> = {};
    for (;;) {
      skipSpace();
      if (startsWith("/>") || startsWith(">")) break;
      const attribute = readName();
      if (attribute in attributes) fail(`duplicate attribute ${attribute}`);
      skipSpace();
      if (!startsWith("=")) fail("expected '='");
      position += 1;
      skipSpace();
      const quote = source[position];
      if (quote !== '"' && quote !== "'") fail("expected a quoted attribute value");
      const end = source.indexOf(quote!, position + 1);
      if (end < 0) fail("unclosed attribute value");
      attributes[attribute] = decode(source.slice(position + 1, end));
      position = end + 1;
    }
    const namespace = attributes.xmlns ?? parentNamespace;
    const element: XmlElement = { name, namespace, attributes, children: [], text: "" };
    if (startsWith("/>")) {
      position += 2;
      return element;
    }
    position += 1;
    for (;;) {
      const next = source.indexOf("<", position);
      if (next < 0) fail(`unclosed element ${name}`);
      element.text += decode(source.slice(position, next));
      position = next;
      if (startsWith("<!--")) {
        skipMisc();
        continue;
      }
      if (startsWith("</")) {
        position += 2;
        const closing = readName();
        if (closing !== name) fail(`</${closing}> closes <${name}>`);
        skipSpace();
        if (!startsWith(">")) fail("expected '>'");
        position += 1;
        return element;
      }
      element.children.push(readElement(namespace));
    }
  };

  if (startsWith("<?xml")) {
    const end = source.indexOf("?>", position);
    if (end < 0) fail("unclosed XML declaration");
    position = end + 2;
  }
  skipMisc();
  const root = readElement("");
  skipMisc();
  if (position !== source.length) fail("content after the root element");
  return root;
}

/** The only child with that name (throws when there are none or several). */
export function child(element: XmlElement, name: string): XmlElement {
  const found = element.children.filter((candidate) => candidate.name === name);
  if (found.length !== 1) throw new Error(`<${element.name}> has ${found.length} <${name}>`);
  return found[0]!;
}

export function children(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((candidate) => candidate.name === name);
}

/** Follows "A/B/C" through single children. */
export function at(element: XmlElement, path: string): XmlElement {
  return path.split("/").reduce(child, element);
}

/** Every element of the tree, depth first. */
export function allElements(element: XmlElement): XmlElement[] {
  return [element, ...element.children.flatMap(allElements)];
}

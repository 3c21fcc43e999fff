// Just enough MIME to read back what nodemailer writes, so the mail sink can store a readable
// summary beside each raw message: unfolded headers, RFC 2047 encoded words, multipart bodies
// (nested), and quoted-printable, base64, 7bit and 8bit parts in UTF-8.

export interface ParsedMail {
  headers: Map<string, string>;
  subject: string;
  text: string;
  html: string;
}

/** Parts and nesting bounds: a sink must not be made to recurse or loop without end. */
const MAX_PARTS = 32;
const MAX_DEPTH = 4;

export function parseMail(raw: string): ParsedMail {
  const found = { text: "", html: "", parts: 0 };
  const { headers, body } = splitEntity(raw);
  collectBodies(headers, body, found, 0);
  return { headers, subject: decodeWords(headers.get("subject") ?? ""), text: found.text, html: found.html };
}

function splitEntity(entity: string): { headers: Map<string, string>; body: string } {
  const normalized = entity.replace(/\r\n/g, "\n");
  const end = normalized.indexOf("\n\n");
  const head = end < 0 ? normalized : normalized.slice(0, end);
  const body = end < 0 ? "" : normalized.slice(end + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, " ").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function collectBodies(headers: Map<string, string>, body: string, found: { text: string; html: string; parts: number }, depth: number): void {
  found.parts += 1;
  if (found.parts > MAX_PARTS || depth > MAX_DEPTH) return;
  const type = (headers.get("content-type") ?? "text/plain").toLowerCase();
  if (type.startsWith("multipart/")) {
    const boundary = /boundary="?([^";]+)"?/i.exec(headers.get("content-type") ?? "")?.[1];
    if (!boundary) return;
    for (const part of body.split(`--${boundary}`).slice(1)) {
      if (part.startsWith("--")) break;
      // The line break before a boundary belongs to the boundary (RFC 2046).
      const entity = splitEntity(part.replace(/^\n/, "").replace(/\n$/, ""));
      collectBodies(entity.headers, entity.body, found, depth + 1);
    }
    return;
  }
  const decoded = decodeBody(body, (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase());
  if (type.startsWith("text/plain") && found.text === "") found.text = decoded;
  if (type.startsWith("text/html") && found.html === "") found.html = decoded;
}

function decodeBody(body: string, encoding: string): string {
  if (encoding === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (encoding === "quoted-printable") return decodeQuotedPrintable(body);
  return body;
}

function decodeQuotedPrintable(text: string): string {
  const softBreaksRemoved = text.replace(/=\n/g, "");
  const bytes: number[] = [];
  for (let index = 0; index < softBreaksRemoved.length; index += 1) {
    const character = softBreaksRemoved[index]!;
    const hex = softBreaksRemoved.slice(index + 1, index + 3);
    if (character === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      index += 2;
    } else {
      bytes.push(...Buffer.from(character, "utf8"));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** RFC 2047: `=?UTF-8?Q?…?=` and `=?UTF-8?B?…?=`, with the space between adjacent words dropped. */
export function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, "$1")
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, _charset: string, encoding: string, encoded: string) =>
      encoding.toUpperCase() === "B"
        ? Buffer.from(encoded, "base64").toString("utf8")
        : decodeQuotedPrintable(encoded.replace(/_/g, " ")));
}

import * as nodeCrypto from "node:crypto";

// Strict alphabets: lenient decoders (Buffer.from(x, "base64")) silently skip junk, which
// would let two different header strings decode to the same bytes.
const HEX_PATTERN = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

const utf8Encoder = new TextEncoder();

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Copies into a plain Uint8Array, so callers never hold a view of Node's shared Buffer pool. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function toHex(bytes: Uint8Array): string {
  return asBuffer(bytes).toString("hex");
}

export function fromHex(text: string): Uint8Array {
  if (!HEX_PATTERN.test(text)) {
    throw new TypeError("invalid hex: expected an even number of hex characters");
  }
  return copyBytes(Buffer.from(text, "hex"));
}

export function toBase64(bytes: Uint8Array): string {
  return asBuffer(bytes).toString("base64");
}

/** Standard, padded base64; rejects other alphabets, missing padding and non-canonical bits. */
export function fromBase64(text: string): Uint8Array {
  if (!BASE64_PATTERN.test(text)) throw new TypeError("invalid base64");
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) throw new TypeError("invalid base64: non-canonical");
  return copyBytes(bytes);
}

export function toBase64Url(bytes: Uint8Array): string {
  return asBuffer(bytes).toString("base64url");
}

/** base64url without padding; rejects padding, other alphabets and non-canonical bits. */
export function fromBase64Url(text: string): Uint8Array {
  if (!BASE64URL_PATTERN.test(text) || text.length % 4 === 1) {
    throw new TypeError("invalid base64url");
  }
  const bytes = Buffer.from(text, "base64url");
  if (bytes.toString("base64url") !== text) throw new TypeError("invalid base64url: non-canonical");
  return copyBytes(bytes);
}

// The one-shot form (Node 20.12 and later) makes no Hash object per digest: about half the time
// for the small bodies every signed call and event hashes. Earlier Node 20 releases use the stream form.
const oneShotHash = typeof nodeCrypto.hash === "function" ? nodeCrypto.hash : undefined;

export function sha256(bytes: Uint8Array): Uint8Array {
  return copyBytes(oneShotHash ? oneShotHash("sha256", bytes, "buffer") : nodeCrypto.createHash("sha256").update(bytes).digest());
}

import nacl from "tweetnacl";
import { fromBase64Url, toBase64Url, utf8 } from "./encoding.js";
import { KeyFormatError, SealError, SealFailure } from "./errors.js";
import { publicRandomBytes } from "./random.js";

/** Data keys for sealing secrets at rest; `activeKeyId` seals, every key in `keys` opens. */
export interface DataKeyRing {
  activeKeyId: string;
  keys: Map<string, Uint8Array>;
}

export const SEAL_VERSION = "v1";
export const DATA_KEY_BYTES = nacl.secretbox.keyLength;
const NONCE_BYTES = nacl.secretbox.nonceLength;
const MIN_PAYLOAD_BYTES = NONCE_BYTES + nacl.secretbox.overheadLength;
// Short on purpose: a 64-hex key pasted where an id belongs must fail this, so errors can name ids safely.
const DATA_KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const DATA_KEY_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Parses "k1:<64 hex>,k2:<64 hex>"; the first entry is the active key. Errors never echo key material. */
export function parseDataKeys(spec: string): DataKeyRing {
  const entries = spec.split(",").map((entry) => entry.trim());
  const keys = new Map<string, Uint8Array>();
  entries.forEach((entry, index) => {
    const [keyId, keyHex] = parseDataKeyEntry(entry, index + 1);
    if (keys.has(keyId)) throw new KeyFormatError(`data key entry ${index + 1}: duplicate key id "${keyId}"`);
    keys.set(keyId, new Uint8Array(Buffer.from(keyHex, "hex")));
  });
  const activeKeyId = keys.keys().next().value;
  if (activeKeyId === undefined) throw new KeyFormatError("data keys: no entries");
  return { activeKeyId, keys };
}

function parseDataKeyEntry(entry: string, position: number): [string, string] {
  const separator = entry.indexOf(":");
  const keyId = separator < 0 ? "" : entry.slice(0, separator).trim();
  const keyHex = separator < 0 ? "" : entry.slice(separator + 1).trim();
  if (!DATA_KEY_ID_PATTERN.test(keyId)) {
    throw new KeyFormatError(`data key entry ${position}: expected <key id>:<64 hex characters> with a key id of [A-Za-z0-9_-]{1,32}`);
  }
  if (!DATA_KEY_HEX_PATTERN.test(keyHex)) {
    throw new KeyFormatError(`data key entry ${position} ("${keyId}"): key must be exactly 64 hex characters`);
  }
  return [keyId, keyHex];
}

function activeKey(ring: DataKeyRing): Uint8Array {
  const key = ring.keys.get(ring.activeKeyId);
  if (key === undefined || key.length !== DATA_KEY_BYTES || !DATA_KEY_ID_PATTERN.test(ring.activeKeyId)) {
    throw new KeyFormatError(`data key ring: active key "${ring.activeKeyId}" is missing or not ${DATA_KEY_BYTES} bytes`);
  }
  return key;
}

/** Seals with the active key: `v1.<keyId>.<base64url(nonce || secretbox)>`. */
export function seal(ring: DataKeyRing, plaintext: Uint8Array | string): string {
  const key = activeKey(ring);
  const message = typeof plaintext === "string" ? utf8(plaintext) : plaintext;
  const nonce = publicRandomBytes(NONCE_BYTES);
  const box = nacl.secretbox(message, nonce, key);
  const payload = new Uint8Array(NONCE_BYTES + box.length);
  payload.set(nonce, 0);
  payload.set(box, NONCE_BYTES);
  return `${SEAL_VERSION}.${ring.activeKeyId}.${toBase64Url(payload)}`;
}

interface SealedParts {
  keyId: string;
  payload: string;
}

function splitSealed(sealed: string): SealedParts {
  const prefix = `${SEAL_VERSION}.`;
  const separator = typeof sealed === "string" && sealed.startsWith(prefix) ? sealed.indexOf(".", prefix.length) : -1;
  if (separator < 0) {
    throw new SealError(SealFailure.MALFORMED, "sealed value is not in v1.<keyId>.<payload> form");
  }
  const keyId = sealed.slice(prefix.length, separator);
  if (!DATA_KEY_ID_PATTERN.test(keyId)) throw new SealError(SealFailure.MALFORMED, "sealed value has an invalid key id");
  return { keyId, payload: sealed.slice(separator + 1) };
}

/** The id of the data key that sealed this value; compare with ring.activeKeyId to find values to re-seal. */
export function sealedKeyId(sealed: string): string {
  return splitSealed(sealed).keyId;
}

export function unseal(ring: DataKeyRing, sealed: string): Uint8Array {
  const { keyId, payload } = splitSealed(sealed);
  const key = ring.keys.get(keyId);
  if (key === undefined) throw new SealError(SealFailure.UNKNOWN_KEY, `sealed value uses unknown data key "${keyId}"`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(payload);
  } catch {
    throw new SealError(SealFailure.MALFORMED, "sealed value payload is not base64url");
  }
  if (bytes.length < MIN_PAYLOAD_BYTES) throw new SealError(SealFailure.MALFORMED, "sealed value payload is too short");
  const opened = nacl.secretbox.open(bytes.subarray(NONCE_BYTES), bytes.subarray(0, NONCE_BYTES), key);
  if (opened === null) throw new SealError(SealFailure.TAMPERED, `sealed value failed authentication with data key "${keyId}"`);
  return opened;
}

export function unsealText(ring: DataKeyRing, sealed: string): string {
  const bytes = unseal(ring, sealed);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new SealError(SealFailure.MALFORMED, "sealed value is not UTF-8 text");
  }
}

/** Rotation: returns the value sealed with the active key (unchanged if it already is). */
export function reseal(ring: DataKeyRing, sealed: string): string {
  if (sealedKeyId(sealed) === ring.activeKeyId) return sealed;
  return seal(ring, unseal(ring, sealed));
}

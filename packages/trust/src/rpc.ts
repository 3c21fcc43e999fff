import { fromBase64, fromBase64Url, sha256, toBase64, toBase64Url, utf8 } from "./encoding.js";
import { TrustFailure } from "./errors.js";
import { publicRandomBytes } from "./random.js";
import {
  PARTICIPANT_ID_PATTERN,
  TOKEN_PATTERN,
  assertDigestLength,
  assertSingleLine,
  millisecondsText,
  parseMillisecondsHeader,
} from "./fields.js";
import type { HeaderGetter } from "./headers.js";
import { SIGNATURE_BYTES, ed25519Verify, ed25519VerifyAsync } from "./keys.js";
import type { SigningKey } from "./keys.js";
import type { ReplayCache } from "./replay.js";

export const HEADER_PARTICIPANT = "cm-participant";
export const HEADER_KEY_ID = "cm-key-id";
export const HEADER_TIMESTAMP = "cm-timestamp";
export const HEADER_NONCE = "cm-nonce";
export const HEADER_SIGNATURE = "cm-signature";

export const RPC_REQUEST_CONTEXT = "clearmesh-rpc-v1";
export const RPC_RESPONSE_CONTEXT = "clearmesh-rpc-resp-v1";
export const DEFAULT_MAX_SKEW_MS = 300_000;
export const RPC_NONCE_BYTES = 16;
export const RPC_NONCE_MIN_BYTES = 16;
/** Bounds the memory one nonce can take in the replay cache (192 bytes of entropy is plenty). */
export const RPC_NONCE_MAX_CHARS = 256;

const NONCE_PATTERN = /^[A-Za-z0-9_-]+$/;
const SIGNATURE_BASE64_PATTERN = /^[A-Za-z0-9+/]{86}==$/;

export interface RpcRequestFields {
  procedure: string;
  participantId: string;
  keyId: string;
  /** Exactly as sent in cm-timestamp. */
  timestampMs: string;
  nonce: string;
  /** SHA-256 of the request message bytes as sent. */
  requestDigest: Uint8Array;
}

export interface RpcResponseFields {
  procedure: string;
  requestNonce: string;
  participantId: string;
  keyId: string;
  timestampMs: string;
  responseDigest: Uint8Array;
}

export type KeyStatus = "active" | "revoked";

export interface KeyRecord {
  publicKey: Uint8Array;
  status: KeyStatus;
  /** The key is refused after this time (expired), as if revoked. */
  notAfterMs?: number;
}

export type KeyLookup = (participantId: string, keyId: string) => KeyRecord | undefined;

/** For responses the caller may know just the public key, or a directory record. */
export type ResponseKeyLookup = (participantId: string, keyId: string) => Uint8Array | KeyRecord | undefined;

export interface RpcSignOptions {
  timestampMs?: number | bigint;
  nonce?: string;
}

export type RpcRequestVerification =
  | { ok: true; participantId: string; keyId: string; nonce: string; timestampMs: number }
  | { ok: false; reason: TrustFailure };

function signedLines(lines: readonly string[]): string {
  lines.forEach((line, index) => assertSingleLine(`signed line ${index + 1}`, line));
  return lines.join("\n");
}

export function rpcRequestSignedText(fields: RpcRequestFields): string {
  assertDigestLength("requestDigest", fields.requestDigest);
  return signedLines([
    RPC_REQUEST_CONTEXT,
    fields.procedure,
    fields.participantId,
    fields.keyId,
    fields.timestampMs,
    fields.nonce,
    toBase64(fields.requestDigest),
  ]);
}

export function rpcResponseSignedText(fields: RpcResponseFields): string {
  assertDigestLength("responseDigest", fields.responseDigest);
  return signedLines([
    RPC_RESPONSE_CONTEXT,
    fields.procedure,
    fields.requestNonce,
    fields.participantId,
    fields.keyId,
    fields.timestampMs,
    toBase64(fields.responseDigest),
  ]);
}

export function generateNonce(): string {
  return toBase64Url(publicRandomBytes(RPC_NONCE_BYTES));
}

/** Returns the five cm-* headers for a call of `procedure` carrying `requestBytes`. */
export function signRpcRequest(
  key: SigningKey,
  procedure: string,
  requestBytes: Uint8Array,
  options: RpcSignOptions = {},
): Record<string, string> {
  const fields = requestFields(key, procedure, requestBytes, options);
  return requestHeaders(fields, key.sign(utf8(rpcRequestSignedText(fields))));
}


function requestFields(key: SigningKey, procedure: string, requestBytes: Uint8Array, options: RpcSignOptions): RpcRequestFields {
  return {
    procedure,
    participantId: key.participantId,
    keyId: key.keyId,
    timestampMs: millisecondsText("timestampMs", options.timestampMs ?? Date.now()),
    nonce: options.nonce ?? generateNonce(),
    requestDigest: sha256(requestBytes),
  };
}

function requestHeaders(fields: RpcRequestFields, signature: Uint8Array): Record<string, string> {
  return {
    [HEADER_PARTICIPANT]: fields.participantId,
    [HEADER_KEY_ID]: fields.keyId,
    [HEADER_TIMESTAMP]: fields.timestampMs,
    [HEADER_NONCE]: fields.nonce,
    [HEADER_SIGNATURE]: toBase64(signature),
  };
}

/** Returns the four cm-* response headers, bound to the request's nonce. */
export function signRpcResponse(
  key: SigningKey,
  procedure: string,
  requestNonce: string,
  responseBytes: Uint8Array,
  options: { timestampMs?: number | bigint } = {},
): Record<string, string> {
  const fields = responseFields(key, procedure, requestNonce, responseBytes, options);
  return responseHeaders(fields, key.sign(utf8(rpcResponseSignedText(fields))));
}


function responseFields(key: SigningKey, procedure: string, requestNonce: string, responseBytes: Uint8Array, options: { timestampMs?: number | bigint }): RpcResponseFields {
  return {
    procedure,
    requestNonce,
    participantId: key.participantId,
    keyId: key.keyId,
    timestampMs: millisecondsText("timestampMs", options.timestampMs ?? Date.now()),
    responseDigest: sha256(responseBytes),
  };
}

function responseHeaders(fields: RpcResponseFields, signature: Uint8Array): Record<string, string> {
  return {
    [HEADER_PARTICIPANT]: fields.participantId,
    [HEADER_KEY_ID]: fields.keyId,
    [HEADER_TIMESTAMP]: fields.timestampMs,
    [HEADER_SIGNATURE]: toBase64(signature),
  };
}

interface RequestHeaders {
  participantId: string;
  keyId: string;
  timestampText: string;
  timestampMs: number;
  nonce: string;
  signature: Uint8Array;
}

type HeaderParse = { ok: true; headers: RequestHeaders } | { ok: false; reason: TrustFailure };

/** Absent (or empty) header: SIGNATURE_MISSING. Present but malformed: BAD_SIGNATURE. */
function readRequestHeaders(getHeader: HeaderGetter): HeaderParse {
  const names = [HEADER_PARTICIPANT, HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE];
  const [participantId, keyId, timestampText, nonce, signatureText] = names.map((name) => getHeader(name) ?? "");
  if (!participantId || !keyId || !timestampText || !nonce || !signatureText) {
    return { ok: false, reason: TrustFailure.SIGNATURE_MISSING };
  }
  const timestampMs = parseMillisecondsHeader(timestampText);
  const signature = decodeSignature(signatureText);
  const wellFormed =
    PARTICIPANT_ID_PATTERN.test(participantId) &&
    TOKEN_PATTERN.test(keyId) &&
    timestampMs !== undefined &&
    isWellFormedNonce(nonce) &&
    signature !== undefined;
  if (!wellFormed) return { ok: false, reason: TrustFailure.BAD_SIGNATURE };
  return { ok: true, headers: { participantId, keyId, timestampText, timestampMs, nonce, signature } };
}

function isWellFormedNonce(nonce: string): boolean {
  if (nonce.length > RPC_NONCE_MAX_CHARS || !NONCE_PATTERN.test(nonce)) return false;
  try {
    return fromBase64Url(nonce).length >= RPC_NONCE_MIN_BYTES;
  } catch {
    return false;
  }
}

function decodeSignature(text: string): Uint8Array | undefined {
  if (!SIGNATURE_BASE64_PATTERN.test(text)) return undefined;
  try {
    const signature = fromBase64(text);
    return signature.length === SIGNATURE_BYTES ? signature : undefined;
  } catch {
    return undefined;
  }
}

function isRevokedOrExpired(record: KeyRecord, nowMs: number): boolean {
  if (record.status !== "active") return true;
  return record.notAfterMs !== undefined && nowMs > record.notAfterMs;
}

/**
 * Verifies a signed call (PROTOCOL section 3). Checks run cheapest and least stateful first;
 * the nonce is recorded only after the signature verifies, so unsigned junk never fills the
 * replay cache. Returns a result and never throws for bad input.
 */
export function verifyRpcRequest(
  getHeader: HeaderGetter,
  procedure: string,
  requestDigest: Uint8Array,
  lookupKey: KeyLookup,
  replayCache: ReplayCache,
  nowMs: number,
  maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
): RpcRequestVerification {
  const checked = precheckRequest(getHeader, procedure, requestDigest, lookupKey, replayCache, nowMs, maxSkewMs);
  if (!checked.ok) return checked;
  const verified = ed25519Verify(checked.publicKey, checked.signedMessage, checked.headers.signature);
  return afterSignature(checked.headers, verified, replayCache, nowMs);
}

/**
 * verifyRpcRequest with the Ed25519 check where setSignatureVerification says (by default the
 * verifier thread), so a busy service verifies on its other cores. Same checks, same order, same
 * answers.
 */
export async function verifyRpcRequestAsync(
  getHeader: HeaderGetter,
  procedure: string,
  requestDigest: Uint8Array,
  lookupKey: KeyLookup,
  replayCache: ReplayCache,
  nowMs: number,
  maxSkewMs: number = DEFAULT_MAX_SKEW_MS,
): Promise<RpcRequestVerification> {
  const checked = precheckRequest(getHeader, procedure, requestDigest, lookupKey, replayCache, nowMs, maxSkewMs);
  if (!checked.ok) return checked;
  const verified = await ed25519VerifyAsync(checked.publicKey, checked.signedMessage, checked.headers.signature);
  return afterSignature(checked.headers, verified, replayCache, nowMs);
}

type Prechecked =
  | { ok: true; headers: RequestHeaders; publicKey: Uint8Array; signedMessage: Uint8Array }
  | { ok: false; reason: TrustFailure };

/** Everything before the signature itself: headers, key, revocation, clock skew, the signed bytes. */
function precheckRequest(
  getHeader: HeaderGetter,
  procedure: string,
  requestDigest: Uint8Array,
  lookupKey: KeyLookup,
  replayCache: ReplayCache,
  nowMs: number,
  maxSkewMs: number,
): Prechecked {
  if (replayCache.windowMs < maxSkewMs) {
    // A shorter window would forget nonces of calls that are still accepted: a configuration bug.
    throw new RangeError(`replay window ${replayCache.windowMs} ms is shorter than the skew ${maxSkewMs} ms`);
  }
  const parsed = readRequestHeaders(getHeader);
  if (!parsed.ok) return parsed;
  const headers = parsed.headers;
  const record = lookupKey(headers.participantId, headers.keyId);
  if (record === undefined) return { ok: false, reason: TrustFailure.UNKNOWN_KEY };
  if (isRevokedOrExpired(record, nowMs)) return { ok: false, reason: TrustFailure.KEY_REVOKED };
  if (Math.abs(nowMs - headers.timestampMs) > maxSkewMs) return { ok: false, reason: TrustFailure.STALE_TIMESTAMP };
  const signedMessage = requestSignedMessage(headers, procedure, requestDigest);
  if (signedMessage === undefined) return { ok: false, reason: TrustFailure.BAD_SIGNATURE };
  return { ok: true, headers, publicKey: record.publicKey, signedMessage };
}

/** A verified signature records the nonce; a replay or a full cache refuses the call. */
function afterSignature(headers: RequestHeaders, verified: boolean, replayCache: ReplayCache, nowMs: number): RpcRequestVerification {
  if (!verified) return { ok: false, reason: TrustFailure.BAD_SIGNATURE };
  const replay = replayCache.check(headers.participantId, headers.nonce, headers.timestampMs, nowMs);
  if (replay === "replayed") return { ok: false, reason: TrustFailure.REPLAYED_NONCE };
  if (replay === "full") return { ok: false, reason: TrustFailure.NONCE_CAPACITY };
  const { participantId, keyId, nonce, timestampMs } = headers;
  return { ok: true, participantId, keyId, nonce, timestampMs };
}

/** The bytes a request signature covers, or undefined when they cannot be formed. */
function requestSignedMessage(headers: RequestHeaders, procedure: string, requestDigest: Uint8Array): Uint8Array | undefined {
  if (!(requestDigest instanceof Uint8Array) || requestDigest.length !== 32) return undefined;
  if (/[\r\n]/.test(procedure)) return undefined;
  return utf8(rpcRequestSignedText({
    procedure,
    participantId: headers.participantId,
    keyId: headers.keyId,
    timestampMs: headers.timestampText,
    nonce: headers.nonce,
    requestDigest,
  }));
}

/**
 * Verifies a response's cm-* headers against the request nonce and the response bytes.
 * Freshness comes from the nonce binding, so the timestamp is only checked for form.
 */
export function verifyRpcResponse(
  getHeader: HeaderGetter,
  procedure: string,
  requestNonce: string,
  responseBytes: Uint8Array,
  lookupKey: ResponseKeyLookup,
): boolean {
  const checked = responseToVerify(getHeader, procedure, requestNonce, responseBytes, lookupKey);
  return checked !== undefined && ed25519Verify(checked.publicKey, checked.message, checked.signature);
}

/** verifyRpcResponse with the Ed25519 check where setSignatureVerification says (ed25519VerifyAsync). */
export async function verifyRpcResponseAsync(
  getHeader: HeaderGetter,
  procedure: string,
  requestNonce: string,
  responseBytes: Uint8Array,
  lookupKey: ResponseKeyLookup,
): Promise<boolean> {
  const checked = responseToVerify(getHeader, procedure, requestNonce, responseBytes, lookupKey);
  return checked !== undefined && ed25519VerifyAsync(checked.publicKey, checked.message, checked.signature);
}

/** The key, signed bytes and signature of a response, or undefined when a header is unusable. */
function responseToVerify(
  getHeader: HeaderGetter,
  procedure: string,
  requestNonce: string,
  responseBytes: Uint8Array,
  lookupKey: ResponseKeyLookup,
): { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array } | undefined {
  const participantId = getHeader(HEADER_PARTICIPANT) ?? "";
  const keyId = getHeader(HEADER_KEY_ID) ?? "";
  const timestampMs = getHeader(HEADER_TIMESTAMP) ?? "";
  const signature = decodeSignature(getHeader(HEADER_SIGNATURE) ?? "");
  if (!PARTICIPANT_ID_PATTERN.test(participantId) || !TOKEN_PATTERN.test(keyId)) return undefined;
  if (parseMillisecondsHeader(timestampMs) === undefined || signature === undefined) return undefined;
  if (/[\r\n]/.test(procedure) || /[\r\n]/.test(requestNonce)) return undefined;
  const publicKey = activePublicKey(lookupKey(participantId, keyId));
  if (publicKey === undefined) return undefined;
  const responseDigest = sha256(responseBytes);
  const message = utf8(rpcResponseSignedText({ procedure, requestNonce, participantId, keyId, timestampMs, responseDigest }));
  return { publicKey, message, signature };
}

function activePublicKey(found: Uint8Array | KeyRecord | undefined): Uint8Array | undefined {
  if (found === undefined || found instanceof Uint8Array) return found;
  return found.status === "active" ? found.publicKey : undefined;
}

// `clearmesh sign`: the five cm-* headers (PROTOCOL.md §3) for one call, over the protobuf
// binary encoding of a JSON request, printed for `grpcurl -H`.
import { RPC_NONCE_MAX_CHARS, RPC_NONCE_MIN_BYTES, signRpcRequest, toBase64 } from "@clearmesh/trust";
import { UsageError } from "./errors.js";
import { loadSigner } from "./keys.js";
import { requestFromJson, resolveProcedure } from "./procedures.js";

/** Why a signature made here may not verify when grpcurl sends the call (shown in help and on stderr). */
export const GRPCURL_ENCODING_NOTE =
  "grpcurl encodes the JSON request to protobuf itself; the signature covers the bytes clearmesh encodes " +
  "(protobuf-es: fields in field-number order, default values left out), so it verifies only when grpcurl's " +
  "encoding is byte-for-byte the same. That holds for simple messages (scalars, strings, nested messages); " +
  "when in doubt, or with maps or unknown fields, use `clearmesh call`, which sends the exact bytes it signed.";

export interface SignOptions {
  dataDir: string;
  /** The calling participant; its key is `<data>/keys/<id>.key`. */
  as: string;
  keyId?: string;
  /** base64url, at least 16 bytes; random when omitted. */
  nonce?: string;
  /** Milliseconds since the epoch, decimal; now when omitted. */
  timestamp?: string;
}

export interface SignedRequest {
  procedure: string;
  headers: Record<string, string>;
  requestBytes: Uint8Array;
}

const NONCE_PATTERN = /^[A-Za-z0-9_-]+$/;

export function parseNonceOption(nonce: string): string {
  const decodedBytes = Math.floor((nonce.length * 6) / 8);
  if (!NONCE_PATTERN.test(nonce) || nonce.length > RPC_NONCE_MAX_CHARS || decodedBytes < RPC_NONCE_MIN_BYTES || nonce.length % 4 === 1) {
    throw new UsageError(`--nonce must be base64url without padding of at least ${RPC_NONCE_MIN_BYTES} bytes (${Math.ceil((RPC_NONCE_MIN_BYTES * 8) / 6)}+ characters)`);
  }
  return nonce;
}

export function parseTimestampOption(timestamp: string): bigint {
  if (!/^\d{1,16}$/.test(timestamp)) throw new UsageError("--timestamp must be milliseconds since the Unix epoch, in decimal");
  return BigInt(timestamp);
}

/** Encodes the JSON request for `procedureText` and signs it as `options.as`. */
export function signRequest(procedureText: string, json: string, options: SignOptions): SignedRequest {
  const { procedure, method } = resolveProcedure(procedureText);
  const nonce = options.nonce === undefined ? undefined : parseNonceOption(options.nonce);
  const timestampMs = options.timestamp === undefined ? undefined : parseTimestampOption(options.timestamp);
  const { bytes } = requestFromJson(method.input, json);
  const signer = loadSigner(options.dataDir, options.as, options.keyId);
  const headers = signRpcRequest(signer, procedure, bytes, {
    ...(nonce === undefined ? {} : { nonce }),
    ...(timestampMs === undefined ? {} : { timestampMs }),
  });
  return { procedure, headers, requestBytes: bytes };
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** One `-H 'name: value'` line per header, ready to paste into a grpcurl command. */
export function formatGrpcurlHeaders(headers: Record<string, string>): string {
  return Object.entries(headers).map(([name, value]) => `-H ${shellQuote(`${name}: ${value}`)}`).join("\n");
}

export function formatSignedJson(signed: SignedRequest): string {
  return JSON.stringify({ headers: signed.headers, request_base64: toBase64(signed.requestBytes) }, null, 2);
}

/** An example grpcurl command line for stderr (the headers are also on stdout). */
export function grpcurlExample(signed: SignedRequest, json: string): string {
  const headerArgs = Object.entries(signed.headers).map(([name, value]) => `-H ${shellQuote(`${name}: ${value}`)}`).join(" ");
  return `grpcurl -plaintext ${headerArgs} -d ${shellQuote(json)} <host:port> ${signed.procedure.slice(1)}`;
}

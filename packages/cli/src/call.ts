// `clearmesh call`: one signed unary call with a JSON body. The exact bytes signed are the
// bytes sent (raw call), and the answering service's response signature is verified with its
// public key from `<data>/keys/<responder>.pub`.
import fs from "node:fs";
import type * as grpc from "@grpc/grpc-js";
import { Code, createSignedClient, rpcError, type ClientTls } from "@clearmesh/runtime";
import { HEADER_NONCE, signRpcRequest, verifyRpcResponse, type HeaderGetter } from "@clearmesh/trust";
import { CliError, UsageError } from "./errors.js";
import { loadSigner, readPublicKey, requireParticipantId } from "./keys.js";
import { binaryToJsonText, requestFromJson, resolveProcedure, responderOf } from "./procedures.js";

export const DEFAULT_TIMEOUT_MS = 15_000;

export interface ConnectionOptions {
  /** PEM CA bundle: call over TLS trusting it; plaintext (h2c) when omitted. */
  tlsCa?: string;
  timeoutMs?: number;
}

export interface CallOptions extends ConnectionOptions {
  dataDir: string;
  /** The signing participant; required unless `unsigned`. */
  as?: string;
  keyId?: string;
  /** Send no cm-* signature (health, wallet end-user methods); no response signature is checked. */
  unsigned?: boolean;
  /** Extra metadata, `name: value` each (e.g. `authorization: Bearer …`). */
  headers?: readonly string[];
  /** Verify the response signature (default true for signed calls). */
  verifyResponse?: boolean;
  /** The participant expected to sign the response; default the service owning the procedure. */
  responder?: string;
}

export interface CallResult {
  procedure: string;
  /** The response message as pretty proto3 JSON. */
  json: string;
  /** The participant whose response signature was verified, if any. */
  verifiedBy?: string;
}

export function clientTls(tlsCa: string | undefined): ClientTls | undefined {
  if (tlsCa === undefined) return undefined;
  try {
    return { caPem: fs.readFileSync(tlsCa) };
  } catch (error) {
    throw new CliError(`--tls-ca ${tlsCa}: unreadable (${(error as NodeJS.ErrnoException).code})`);
  }
}

export function parseTimeoutOption(text: string): number {
  if (!/^\d{1,7}$/.test(text) || Number(text) < 1) throw new UsageError("--timeout must be a whole number of milliseconds (1 to 9999999)");
  return Number(text);
}

/** Parses repeated `--header 'name: value'` options; cm-* headers are the signer's, never set by hand on a signed call. */
export function parseHeaderOptions(values: readonly string[], signed: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const match = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*:\s*(.*?)\s*$/.exec(value);
    if (!match) throw new UsageError(`--header "${value}" is not "name: value"`);
    const name = match[1]!.toLowerCase();
    if (name.endsWith("-bin")) throw new UsageError(`--header ${name}: binary (-bin) headers are not supported`);
    if (signed && name.startsWith("cm-")) throw new UsageError(`--header ${name}: the cm-* headers come from the signature (use --unsigned to send your own)`);
    headers[name] = match[2]!;
  }
  return headers;
}

export function metadataGetter(metadata: grpc.Metadata): HeaderGetter {
  return (name) => {
    const values = metadata.get(name).map((value) => (typeof value === "string" ? value : value.toString("utf8")));
    return values.length === 0 ? undefined : values.join(", ");
  };
}

export async function callProcedure(address: string, procedureText: string, json: string, options: CallOptions): Promise<CallResult> {
  const { procedure, service, method } = resolveProcedure(procedureText);
  const signed = !options.unsigned;
  if (signed && options.as === undefined) throw new UsageError("--as <participant-id> is required for a signed call (or pass --unsigned)");
  if (!signed && options.as !== undefined) throw new UsageError("--as and --unsigned exclude each other");
  const extraHeaders = parseHeaderOptions(options.headers ?? [], signed);
  const verify = signed && options.verifyResponse !== false;
  const responder = verify ? requireParticipantId(options.responder ?? responderOf(service), "--responder") : undefined;
  const { bytes } = requestFromJson(method.input, json);
  const signer = signed ? loadSigner(options.dataDir, options.as!, options.keyId) : undefined;
  const responderKey = responder === undefined
    ? undefined
    : readPublicKey(options.dataDir, responder, `copy ${responder}'s public key there, pass --responder, or --no-verify-response`);
  const tls = clientTls(options.tlsCa);

  const headers = { ...extraHeaders, ...(signer ? signRpcRequest(signer, procedure, bytes) : {}) };
  const client = createSignedClient(service, { address, ...(tls ? { tls } : {}) });
  try {
    const result = await client.raw(procedure, bytes, headers, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (responder !== undefined && responderKey !== undefined) {
      const getHeader = metadataGetter(result.headers);
      const answeredBy = getHeader("cm-participant");
      const valid = answeredBy === responder
        && verifyRpcResponse(getHeader, procedure, headers[HEADER_NONCE]!, result.bytes, (participantId) => (participantId === responder ? responderKey : undefined));
      if (!valid) {
        throw rpcError(Code.Unauthenticated, "BAD_RESPONSE_SIGNATURE",
          `the response to ${procedure} is not signed by ${responder}'s key in ${options.dataDir}/keys/${responder}.pub (answered by ${answeredBy ?? "nobody"})`);
      }
    }
    return { procedure, json: binaryToJsonText(method.output, result.bytes), ...(responder === undefined ? {} : { verifiedBy: responder }) };
  } finally {
    client.close();
  }
}

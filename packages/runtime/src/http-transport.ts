// Serves the same ServiceImpl handlers over Connect and gRPC-Web on the HTTP port, plus
// /metrics and /healthz. The body is read here, bounded, so the signature can be checked over
// the exact bytes received: the whole body for Connect unary, the first frame's payload for
// gRPC-Web (PROTOCOL.md §3).
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { toBinary } from "@bufbuild/protobuf";
import { createConnectRouter, createContextKey, createContextValues, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { sha256 } from "@clearmesh/trust";
import { Code, ConnectError, decodeRequest, messageTooLarge, rpcError, toConnectError } from "./errors.js";
import { callerKey, type CallPipeline } from "./pipeline.js";
import { isSigned, procedureOf, type ServiceRegistration } from "./registration.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface HttpRoutesOptions {
  registrations: readonly ServiceRegistration[];
  pipeline: CallPipeline;
  maxRequestBytes: number;
  shutdownSignal: AbortSignal;
  /** Extra plain HTTP routes (e.g. /metrics), by exact path. */
  extraRoutes?: Record<string, (request: NodeRequest, response: NodeResponse) => void | Promise<void>>;
}

export function createHttpHandler(options: HttpRoutesOptions): (request: NodeRequest, response: NodeResponse) => void {
  const signedProcedures = new Set<string>();
  const infrastructureProcedures = new Set<string>();
  for (const registration of options.registrations) {
    for (const method of registration.service.methods) {
      if (isSigned(registration, method)) signedProcedures.add(procedureOf(method));
      if (registration.infrastructure) infrastructureProcedures.add(procedureOf(method));
    }
  }
  const router = createConnectRouter({
    grpc: false,
    readMaxBytes: options.maxRequestBytes,
    writeMaxBytes: 16 * options.maxRequestBytes,
    shutdownSignal: options.shutdownSignal,
    acceptCompression: [],
    interceptors: [responseInterceptor(options.pipeline, infrastructureProcedures)],
  });
  for (const registration of options.registrations) router.service(registration.service, registration.impl);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, handler]));

  return (request, response) => {
    const pathname = new URL(request.url ?? "/", "http://localhost").pathname;
    const extra = options.extraRoutes?.[pathname];
    if (extra) {
      void Promise.resolve(extra(request, response)).catch(() => endWith(response, 500, "internal error"));
      return;
    }
    const handler = handlers.get(pathname);
    if (!handler) {
      endWith(response, 404, "not found");
      return;
    }
    const signed = signedProcedures.has(pathname);
    void serveRpc(handler, request, response, options, signed).catch(() => endWith(response, 500, "internal error"));
  };
}

/** An error found before connect parses the request; the interceptor raises it in the protocol's own format. */
const preflightErrorKey = createContextKey<ConnectError | undefined>(undefined, { description: "preflight error" });

async function serveRpc(handler: UniversalHandler, request: NodeRequest, response: NodeResponse, options: HttpRoutesOptions, signed: boolean): Promise<void> {
  // One byte more than the limit (plus a gRPC-Web frame header) is enough for connect to answer RESOURCE_EXHAUSTED.
  let body = await readBounded(request, options.maxRequestBytes + 6);
  const contentType = String(request.headers["content-type"] ?? "");
  const values = createContextValues();
  try {
    await preflight(handler, request, contentType, body, signed, options.pipeline, values, options.maxRequestBytes);
  } catch (error) {
    // Verification and decoding happen before connect parses the body, so an unsigned or
    // malformed call never reaches a handler; connect still writes the error in the caller's
    // protocol, from a valid empty body.
    values.set(preflightErrorKey, toConnectError(error));
    body = emptyBody(contentType);
  }
  const universal = universalRequestFromNodeRequest(request, response as never, undefined, values);
  if (values.get(preflightErrorKey)) universal.header.set("content-length", String(body.length));
  capTimeout(universal.header, contentType, options.pipeline.rpcTimeoutMs);
  const universalResponse = await handler({ ...universal, body: singleChunk(body) });
  await universalResponseToNodeResponse(universalResponse, response as never);
}

async function preflight(handler: UniversalHandler, request: NodeRequest, contentType: string, body: Uint8Array, signed: boolean, pipeline: CallPipeline, values: ContextValues, maxRequestBytes: number): Promise<void> {
  if (declaredLength(contentType, body) > maxRequestBytes) {
    throw messageTooLarge(maxRequestBytes);
  }
  const payload = requestPayload(contentType, body);
  const getHeader = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  await pipeline.authenticate(handler.requestPath, getHeader, payload && sha256(payload), signed, values);
  if (payload && isBinary(contentType)) decodeRequest(handler.method.input, payload);
}

/** The message size the client declares: the gRPC-Web frame length, or the (bounded) body read. */
function declaredLength(contentType: string, body: Uint8Array): number {
  if (contentType.startsWith("application/grpc-web") && body.length >= 5) {
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(1);
  }
  return body.length;
}

/** The bytes the signature covers: Connect unary = the body; gRPC-Web = the first frame's payload. */
function requestPayload(contentType: string, body: Uint8Array): Uint8Array | undefined {
  if (!contentType.startsWith("application/grpc-web")) return body;
  if (body.length < 5) return undefined;
  const length = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(1);
  if (body.length < 5 + length) return undefined;
  return body.subarray(5, 5 + length);
}

function isBinary(contentType: string): boolean {
  return contentType === "application/proto" || contentType === "application/grpc-web" || contentType.startsWith("application/grpc-web+proto");
}

function emptyBody(contentType: string): Uint8Array {
  if (contentType.startsWith("application/grpc-web")) return new Uint8Array(5);
  return contentType.includes("json") ? Buffer.from("{}") : new Uint8Array(0);
}

/** The shorter of the client's timeout and RPC_TIMEOUT_MS, as the protocol's timeout header. */
function capTimeout(header: Headers, contentType: string, rpcTimeoutMs: number): void {
  if (contentType.startsWith("application/grpc-web")) {
    const match = /^(\d{1,8})([HMSmun])$/.exec(header.get("grpc-timeout") ?? "");
    const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };
    const clientMs = match ? Number(match[1]) * unitMs[match[2]!]! : Infinity;
    header.set("grpc-timeout", `${Math.max(1, Math.ceil(Math.min(clientMs, rpcTimeoutMs)))}m`);
    return;
  }
  const clientMs = Number(header.get("connect-timeout-ms") ?? Infinity);
  header.set("connect-timeout-ms", String(Math.min(Number.isFinite(clientMs) ? clientMs : Infinity, rpcTimeoutMs)));
}

function responseInterceptor(pipeline: CallPipeline, infrastructure: ReadonlySet<string>): Interceptor {
  return (next) => async (request) => {
    const procedure = procedureOf(request.method);
    const started = performance.now();
    let code = 0;
    try {
      const preflightError = request.contextValues.get(preflightErrorKey);
      if (preflightError) throw preflightError;
      const response = await untilDeadline(next(request), request.signal);
      if (!response.stream && request.contextValues.get(callerKey)) {
        const bytes = toBinary(request.method.output, response.message as never);
        const headers = pipeline.signResponse(procedure, request.contextValues, bytes);
        for (const [name, value] of Object.entries(headers ?? {})) response.header.set(name, value);
      }
      return response;
    } catch (error) {
      const connectError: ConnectError = toConnectError(error);
      code = connectError.code;
      throw connectError;
    } finally {
      if (!infrastructure.has(procedure)) pipeline.observe(procedure, code, "connect", (performance.now() - started) / 1000);
    }
  };
}

/** A handler that ignores its abort signal still answers DEADLINE_EXCEEDED on time. */
function untilDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(deadlineError());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadlineError());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function deadlineError(): ConnectError {
  return rpcError(Code.DeadlineExceeded, "DEADLINE_EXCEEDED", "the call ran past its deadline");
}

async function readBounded(request: NodeRequest, limitBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  // Not destroyed on break: destroying an unfinished request destroys its socket, and the
  // RESOURCE_EXHAUSTED answer could no longer be sent (the server discards the rest).
  for await (const chunk of request.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    const remaining = limitBytes - total;
    chunks.push(chunk.length > remaining ? chunk.subarray(0, remaining) : chunk);
    total += Math.min(chunk.length, remaining);
    if (total >= limitBytes) break;
  }
  return Buffer.concat(chunks);
}

async function* singleChunk(body: Uint8Array): AsyncIterable<Uint8Array> {
  yield body;
}

function endWith(response: NodeResponse, status: number, text: string): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  (response as http.ServerResponse).writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}

// Serves the same ServiceImpl handlers over Connect and gRPC-Web on the HTTP port, plus
// /metrics and /healthz. The body is read here, bounded, so the signature can be checked over
// the exact bytes received: the whole body for Connect unary, the first frame's payload for
// gRPC-Web (PROTOCOL.md §3).
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { toBinary } from "@bufbuild/protobuf";
import { createConnectRouter, createContextValues, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { sha256 } from "@clearmesh/trust";
import { ConnectError, toConnectError } from "./errors.js";
import { requestDigestKey, type CallPipeline } from "./pipeline.js";
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
    maxTimeoutMs: options.pipeline.rpcTimeoutMs,
    shutdownSignal: options.shutdownSignal,
    acceptCompression: [],
    interceptors: [verificationInterceptor(options.pipeline, signedProcedures, infrastructureProcedures)],
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
    void serveRpc(handler, request, response, options.maxRequestBytes).catch(() => endWith(response, 500, "internal error"));
  };
}

async function serveRpc(handler: UniversalHandler, request: NodeRequest, response: NodeResponse, maxRequestBytes: number): Promise<void> {
  // One byte more than the limit (plus a gRPC-Web frame header) is enough for connect to answer RESOURCE_EXHAUSTED.
  const body = await readBounded(request, maxRequestBytes + 6);
  const digest = requestDigest(String(request.headers["content-type"] ?? ""), body);
  const values = createContextValues().set(requestDigestKey, digest);
  const universal = universalRequestFromNodeRequest(request, response as never, undefined, values);
  const universalResponse = await handler({ ...universal, body: singleChunk(body) });
  await universalResponseToNodeResponse(universalResponse, response as never);
}

/** The bytes the signature covers: Connect unary = the body; gRPC-Web = the first frame's payload. */
function requestDigest(contentType: string, body: Uint8Array): Uint8Array | undefined {
  if (contentType.startsWith("application/grpc-web")) {
    if (body.length < 5) return undefined;
    const length = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(1);
    if (body.length < 5 + length) return undefined;
    return sha256(body.subarray(5, 5 + length));
  }
  return sha256(body);
}

function verificationInterceptor(pipeline: CallPipeline, signedProcedures: ReadonlySet<string>, infrastructure: ReadonlySet<string>): Interceptor {
  return (next) => async (request) => {
    const procedure = procedureOf(request.method);
    const started = performance.now();
    let code = 0;
    try {
      const signed = signedProcedures.has(procedure);
      const getHeader = (name: string) => request.header.get(name) ?? undefined;
      pipeline.authenticate(procedure, getHeader, request.contextValues.get(requestDigestKey), signed, request.contextValues);
      const response = await next(request);
      if (signed && !response.stream) {
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

// Serves ServiceImpl handlers over grpc-js. The request deserializer keeps the exact bytes so
// signatures are checked against what the client sent, never a re-encoding (PROTOCOL.md §3).
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import type { ContextValues, HandlerContext } from "@connectrpc/connect";
import { sha256 } from "@clearmesh/trust";
import { Code, ConnectError, STATUS_DETAILS_HEADER, rpcError, statusDetailsBytes, toConnectError } from "./errors.js";
import type { CallPipeline } from "./pipeline.js";
import { isSigned, procedureOf, type ServiceRegistration } from "./registration.js";

type AnyImpl = (...args: unknown[]) => unknown;
type RawCall = grpc.ServerUnaryCall<Buffer, Uint8Array> | grpc.ServerWritableStream<Buffer, Uint8Array> | grpc.ServerDuplexStream<Buffer, Uint8Array> | grpc.ServerReadableStream<Buffer, Uint8Array>;

const identity = <T>(value: T): T => value;
const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function grpcServiceDefinition(registration: ServiceRegistration): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of registration.service.methods) {
    definition[method.name] = {
      path: procedureOf(method),
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: toBuffer,
      requestDeserialize: identity,
      responseSerialize: toBuffer,
      responseDeserialize: identity,
      originalName: method.localName,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition as grpc.ServiceDefinition;
}

export function grpcServiceImplementation(registration: ServiceRegistration, pipeline: CallPipeline, shutdownSignal: AbortSignal): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of registration.service.methods) {
    const impl = (registration.impl as Record<string, AnyImpl | undefined>)[method.localName];
    const handler = new GrpcMethodHandler(registration, method, impl?.bind(registration.impl), pipeline, shutdownSignal);
    implementation[method.name] = method.methodKind === "unary"
      ? (call: grpc.ServerUnaryCall<Buffer, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>) => void handler.unary(call, callback)
      : (call: RawCall) => void handler.stream(call);
  }
  return implementation;
}

class GrpcMethodHandler {
  private readonly procedure: string;
  private readonly signed: boolean;

  constructor(
    private readonly registration: ServiceRegistration,
    private readonly method: DescMethod,
    private readonly impl: AnyImpl | undefined,
    private readonly pipeline: CallPipeline,
    private readonly shutdownSignal: AbortSignal,
  ) {
    this.procedure = procedureOf(method);
    this.signed = isSigned(registration, method);
  }

  async unary(call: grpc.ServerUnaryCall<Buffer, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>): Promise<void> {
    const started = performance.now();
    let code: Code | 0 = 0;
    let context: GrpcCallContext | undefined;
    try {
      const raw = call.request;
      // Verify before anything else, so an unsigned caller learns nothing (not even UNIMPLEMENTED).
      context = this.context(call, await this.pipeline.authenticate(this.procedure, headerGetter(call.metadata), sha256(raw), this.signed));
      const impl = this.requireImpl();
      const request = decode(this.method.input, raw);
      const result = await withDeadline(Promise.resolve(impl(request, context)), context);
      const bytes = toBinary(this.method.output, create(this.method.output, result as never));
      const metadata = context.responseMetadata();
      const signature = this.registration.infrastructure ? undefined : this.pipeline.signResponse(this.procedure, context.values, bytes);
      for (const [name, value] of Object.entries(signature ?? {})) metadata.set(name, value);
      call.sendMetadata(metadata);
      callback(null, bytes, context.trailerMetadata());
    } catch (error) {
      const connectError = toConnectError(error);
      code = connectError.code;
      callback(grpcStatus(connectError));
    } finally {
      finish(context);
      this.observe(code, started);
    }
  }

  async stream(call: RawCall): Promise<void> {
    const started = performance.now();
    let code: Code | 0 = 0;
    let context: GrpcCallContext | undefined;
    try {
      const impl = this.requireImpl();
      // Streaming methods are health Watch and reflection: unsigned by design (PROTOCOL.md §1).
      if (this.signed) throw rpcError(Code.Unimplemented, "UNIMPLEMENTED", "signed streaming calls are not supported");
      context = this.context(call, await this.pipeline.authenticate(this.procedure, headerGetter(call.metadata), undefined, false));
      const input = this.method.methodKind === "server_streaming"
        ? decode(this.method.input, (call as grpc.ServerWritableStream<Buffer, Uint8Array>).request)
        : decodeStream(this.method.input, call as grpc.ServerDuplexStream<Buffer, Uint8Array>);
      const output = impl(input, context);
      const writable = call as grpc.ServerWritableStream<Buffer, Uint8Array>;
      if (this.method.methodKind === "client_streaming") {
        writable.write(toBinary(this.method.output, create(this.method.output, (await output) as never)));
      } else {
        for await (const message of output as AsyncIterable<unknown>) {
          if (context.signal.aborted) break;
          writable.write(toBinary(this.method.output, create(this.method.output, message as never)));
        }
      }
      writable.end();
    } catch (error) {
      const connectError = toConnectError(error);
      code = connectError.code;
      call.emit("error", grpcStatus(connectError));
    } finally {
      finish(context);
      this.observe(code, started);
    }
  }

  private requireImpl(): AnyImpl {
    if (!this.impl) throw rpcError(Code.Unimplemented, "UNIMPLEMENTED", `${this.method.parent.name}.${this.method.name} is not implemented yet`);
    return this.impl;
  }

  private context(call: RawCall, values: ContextValues): GrpcCallContext {
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const nowMs = Date.now();
    const remaining = Number.isFinite(deadlineMs) ? Math.max(0, deadlineMs - nowMs) : Infinity;
    const context = new GrpcCallContext(this.method, this.procedure, values, nowMs + Math.min(remaining, this.pipeline.rpcTimeoutMs), this.shutdownSignal, call.metadata);
    // grpc-js also reports "cancelled" once an answered call's stream closes: nothing to abort then.
    (call as grpc.ServerUnaryCall<Buffer, Uint8Array>).on("cancelled", () => {
      if (!context.ended) context.abort(new ConnectError("call cancelled by the client", Code.Canceled));
    });
    return context;
  }

  private observe(code: Code | 0, started: number): void {
    if (this.registration.infrastructure) return;
    this.pipeline.observe(this.procedure, code, "grpc", (performance.now() - started) / 1000);
  }
}

/**
 * Ends a call's context once it is answered: stops its deadline timer and unhooks it from the
 * server's shutdown signal, if its signal was ever asked for.
 */
function finish(context: GrpcCallContext | undefined): void {
  context?.abort(CALL_OVER);
}

/** One shared abort reason: nothing reads it once the call is answered, and an Error per call costs a stack trace. */
const CALL_OVER = new ConnectError("the call is over", Code.Canceled);

/**
 * A call's HandlerContext, built lazily: unary handlers rarely read the signal or the request
 * headers, so the abort controller, its deadline timer, the shutdown listener and the Headers
 * objects exist only once something asks for them. It behaves as connect's createHandlerContext:
 * the signal aborts at the deadline, on server shutdown, on client cancellation and when the
 * call is over.
 */
export class GrpcCallContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  readonly service;
  #controller: AbortController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #ended: { reason: unknown } | undefined;
  #requestHeader: Headers | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(
    readonly method: DescMethod,
    readonly url: string,
    readonly values: ContextValues,
    private readonly deadlineAtMs: number,
    private readonly shutdownSignal: AbortSignal,
    private readonly metadata: grpc.Metadata,
  ) {
    this.service = method.parent;
  }

  readonly timeoutMs = (): number | undefined => (Number.isFinite(this.deadlineAtMs) ? this.deadlineAtMs - Date.now() : undefined);

  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    if (this.#ended) {
      controller.abort(this.#ended.reason);
      return controller.signal;
    }
    if (this.shutdownSignal.aborted) controller.abort(this.shutdownSignal.reason);
    else {
      const onShutdown = () => this.abort(this.shutdownSignal.reason);
      this.shutdownSignal.addEventListener("abort", onShutdown, { once: true });
      this.#unlisten = () => this.shutdownSignal.removeEventListener("abort", onShutdown);
    }
    const remaining = this.timeoutMs();
    if (remaining !== undefined && !controller.signal.aborted) {
      this.#timer = setTimeout(() => this.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)), Math.max(0, remaining));
    }
    return controller.signal;
  }

  get requestHeader(): Headers {
    return (this.#requestHeader ??= metadataToHeaders(this.metadata));
  }

  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  /** The response headers the handler set, as gRPC metadata. */
  responseMetadata(): grpc.Metadata {
    return this.#responseHeader ? headersToMetadata(this.#responseHeader) : new grpc.Metadata();
  }

  trailerMetadata(): grpc.Metadata {
    return this.#responseTrailer ? headersToMetadata(this.#responseTrailer) : new grpc.Metadata();
  }

  /** Whether the call is over (answered, failed or aborted). */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  abort(reason: unknown): void {
    if (this.#ended) return;
    this.#ended = { reason };
    clearTimeout(this.#timer);
    this.#unlisten?.();
    this.#controller?.abort(reason);
  }
}

function decode<T extends DescMessage>(schema: T, raw: Uint8Array) {
  try {
    return fromBinary(schema, raw);
  } catch {
    throw rpcError(Code.InvalidArgument, "MALFORMED_REQUEST", `the request is not a valid ${schema.typeName}`);
  }
}

async function* decodeStream<T extends DescMessage>(schema: T, call: grpc.ServerDuplexStream<Buffer, Uint8Array>) {
  // Not destroyed when the client half-closes: destroying the duplex would drop the response
  // stream's end and status (reflection clients would wait forever).
  for await (const chunk of call.iterator({ destroyOnReturn: false })) yield decode(schema, chunk as Buffer);
}

/** Runs a handler under the call's deadline (the client's, capped by RPC_TIMEOUT_MS). */
async function withDeadline<T>(work: Promise<T>, context: HandlerContext): Promise<T> {
  const timeoutMs = context.timeoutMs();
  if (timeoutMs === undefined || !Number.isFinite(timeoutMs)) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(rpcError(Code.DeadlineExceeded, "DEADLINE_EXCEEDED", "the call ran past its deadline")), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export function headerGetter(metadata: grpc.Metadata): (name: string) => string | undefined {
  return (name) => {
    const values = metadata.get(name);
    return values.length > 0 ? String(values[0]) : undefined;
  };
}

function metadataToHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [name, values] of Object.entries(metadata.getMap())) {
    if (!name.endsWith("-bin")) headers.set(name, String(values));
  }
  return headers;
}

function headersToMetadata(headers: Headers): grpc.Metadata {
  const metadata = new grpc.Metadata();
  headers.forEach((value, name) => metadata.set(name, value));
  return metadata;
}

export function grpcStatus(error: ConnectError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_HEADER, Buffer.from(statusDetailsBytes(error)));
  return { code: error.code as number as grpc.status, details: error.rawMessage, metadata };
}

// Serves ServiceImpl handlers on the gRPC port (h2-server.ts). The handler reads the request's
// exact bytes, so signatures are checked against what the client sent, never a re-encoding
// (PROTOCOL.md §3).
import type http2 from "node:http2";
import { create, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import type { ContextValues, HandlerContext } from "@connectrpc/connect";
import { sha256 } from "@clearmesh/trust";
import { Code, ConnectError, decodeRequest, rpcError, toConnectError } from "./errors.js";
import type { GrpcRoute, GrpcServerCall } from "./h2-server.js";
import type { CallPipeline } from "./pipeline.js";
import { isSigned, procedureOf, type ServiceRegistration } from "./registration.js";

type AnyImpl = (...args: unknown[]) => unknown;

/**
 * Every method of these services, by path. `shutdownSignal` ends what is still running once the
 * grace is over; `drainSignal` ends streaming calls (health Watch) as soon as the server starts
 * closing, since they would otherwise hold the close for the whole grace.
 */
export function grpcRoutes(registrations: readonly ServiceRegistration[], pipeline: CallPipeline, shutdownSignal: AbortSignal, drainSignal: AbortSignal): Map<string, GrpcRoute> {
  const routes = new Map<string, GrpcRoute>();
  for (const registration of registrations) {
    for (const method of registration.service.methods) {
      const impl = (registration.impl as Record<string, AnyImpl | undefined>)[method.localName];
      const streaming = method.methodKind !== "unary";
      routes.set(procedureOf(method), new GrpcMethodHandler(registration, method, impl?.bind(registration.impl), pipeline, streaming ? drainSignal : shutdownSignal));
    }
  }
  return routes;
}

class GrpcMethodHandler implements GrpcRoute {
  readonly requestStream: boolean;
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
    this.requestStream = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
  }

  start(call: GrpcServerCall): void {
    if (this.method.methodKind === "unary") void this.unary(call);
    else void this.stream(call);
  }

  async unary(call: GrpcServerCall): Promise<void> {
    const started = performance.now();
    let code: Code | 0 = 0;
    let context: GrpcCallContext | undefined;
    try {
      const raw = call.request;
      // Verify before anything else, so an unsigned caller learns nothing (not even UNIMPLEMENTED).
      context = this.context(call, await this.pipeline.authenticate(this.procedure, (name) => call.header(name), sha256(raw), this.signed), this.pipeline.rpcTimeoutMs);
      const impl = this.requireImpl();
      const request = decodeRequest(this.method.input, raw);
      const result = await withDeadline(Promise.resolve(impl(request, context)), context);
      const bytes = toBinary(this.method.output, create(this.method.output, result as never));
      const signature = this.registration.infrastructure ? undefined : this.pipeline.signResponse(this.procedure, context.values, bytes);
      call.answer(context.responseHeaders(signature), bytes, context.responseTrailers());
    } catch (error) {
      const connectError = toConnectError(error);
      code = connectError.code;
      call.fail(connectError);
    } finally {
      finish(context);
      this.observe(code, started);
    }
  }

  async stream(call: GrpcServerCall): Promise<void> {
    const started = performance.now();
    let code: Code | 0 = 0;
    let context: GrpcCallContext | undefined;
    try {
      const impl = this.requireImpl();
      // Streaming methods are health Watch and reflection: unsigned by design (PROTOCOL.md §1).
      if (this.signed) throw rpcError(Code.Unimplemented, "UNIMPLEMENTED", "signed streaming calls are not supported");
      // A stream lasts until the client's deadline, if it set one: RPC_TIMEOUT_MS bounds unary
      // work, while a health Watch is meant to stay open.
      context = this.context(call, await this.pipeline.authenticate(this.procedure, (name) => call.header(name), undefined, false), Infinity);
      const input = this.requestStream ? decodeStream(this.method.input, call) : decodeRequest(this.method.input, call.request);
      const output = impl(input, context);
      const signal = context.signal;
      if (this.method.methodKind === "client_streaming") {
        call.write(toBinary(this.method.output, create(this.method.output, (await output) as never)));
      } else {
        for await (const message of output as AsyncIterable<unknown>) {
          if (signal.aborted) break;
          call.write(toBinary(this.method.output, create(this.method.output, message as never)));
        }
      }
      // Ended by its deadline or by the server closing: the client learns why.
      if (signal.aborted) throw signal.reason;
      call.end(context.responseTrailers());
    } catch (error) {
      const connectError = toConnectError(error);
      code = connectError.code;
      call.fail(connectError);
    } finally {
      finish(context);
      this.observe(code, started);
    }
  }

  private requireImpl(): AnyImpl {
    if (!this.impl) throw rpcError(Code.Unimplemented, "UNIMPLEMENTED", `${this.method.parent.name}.${this.method.name} is not implemented yet`);
    return this.impl;
  }

  private context(call: GrpcServerCall, values: ContextValues, capMs: number): GrpcCallContext {
    const remaining = Math.max(0, call.deadlineAtMs - Date.now());
    const context = new GrpcCallContext(this.method, this.procedure, values, Date.now() + Math.min(remaining, capMs), this.shutdownSignal, call);
    call.onCancel(() => {
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
    private readonly request: { metadata(): Headers },
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
    return (this.#requestHeader ??= this.request.metadata());
  }

  get responseHeader(): Headers {
    return (this.#responseHeader ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.#responseTrailer ??= new Headers());
  }

  /** The response headers the handler set, with the response's signature headers. */
  responseHeaders(signature: Record<string, string> | undefined): http2.OutgoingHttpHeaders | undefined {
    if (!this.#responseHeader) return signature;
    const headers: http2.OutgoingHttpHeaders = plainHeaders(this.#responseHeader);
    return signature ? Object.assign(headers, signature) : headers;
  }

  /** The trailers the handler set, if any. */
  responseTrailers(): http2.OutgoingHttpHeaders | undefined {
    return this.#responseTrailer ? plainHeaders(this.#responseTrailer) : undefined;
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

async function* decodeStream<T extends DescMessage>(schema: T, call: GrpcServerCall) {
  for await (const message of call.messages()) yield decodeRequest(schema, message);
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

function plainHeaders(headers: Headers): http2.OutgoingHttpHeaders {
  const result: http2.OutgoingHttpHeaders = {};
  headers.forEach((value, name) => (result[name] = value));
  return result;
}

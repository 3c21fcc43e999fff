// The gRPC port's server, written directly on node:http2, as h2-client.ts is for the calls the
// services make. grpc-js's server took about 115-120 µs of CPU a call here against about 70 µs
// for the same exchange on node:http2 (docs/performance.md), on clearing's busiest thread. What it
// does, per the gRPC-over-HTTP/2 specification and as grpc-js's server did:
// - a request is a POST with a `content-type` of `application/grpc` (or `application/grpc+…`);
//   another method is answered HTTP 405, another content type HTTP 415, both without a gRPC status;
// - an unknown path is UNIMPLEMENTED; a malformed `grpc-timeout` is INVALID_ARGUMENT;
// - messages are length-prefixed; a message larger than the limit is RESOURCE_EXHAUSTED as soon
//   as its prefix is read (the rest is discarded, never buffered); gzip and deflate requests are
//   inflated, up to the same limit; another `grpc-encoding` is UNIMPLEMENTED; answers are never
//   compressed;
// - a unary (or server-streaming) call takes exactly one message: none, two, a cut one or a
//   compressed one with no encoding named is INVALID_ARGUMENT (MALFORMED_REQUEST);
// - every status the server raises itself carries a google.rpc.Status with an ErrorInfo
//   (`grpc-status-details-bin`), as the handlers' errors do; `grpc-message` is percent-encoded;
// - an answer is headers, messages, then trailers with `grpc-status`; an error before any
//   header is a trailers-only answer;
// - a call whose stream closes before its status is sent (the client cancelled, or the
//   connection went) is cancelled: its listeners run once, and nothing more is written;
// - close(grace): no new connections, a GOAWAY on each open one, calls in flight may finish
//   within the grace; then every connection left is destroyed.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import { Code, ConnectError, messageTooLarge, rpcError, statusDetailsBytes, STATUS_DETAILS_HEADER } from "./errors.js";
import { encodeGrpcMessage, frameMessage, parseGrpcTimeout } from "./grpc-wire.js";
import { gracefulClose, secureServerOptions, type ServerTls } from "./listening.js";
import { inTurn } from "./turns.js";

const {
  HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH,
  HTTP_STATUS_OK, HTTP_STATUS_METHOD_NOT_ALLOWED, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
} = http2.constants;

/** A method the server routes calls to. */
export interface GrpcRoute {
  /** Whether the client sends a stream of messages (client streaming and bidi). */
  readonly requestStream: boolean;
  /**
   * Starts a call: for a request stream as soon as its headers arrive (read call.messages()),
   * otherwise once its one message has arrived (call.request).
   */
  start(call: GrpcServerCall): void;
}

export interface GrpcServerOptions {
  host: string;
  port: number;
  /** Largest request message, in bytes (after inflation); larger ones get RESOURCE_EXHAUSTED. */
  maxReceiveBytes: number;
  /** Largest answer message, in bytes; a larger one ends the call RESOURCE_EXHAUSTED. */
  maxSendBytes: number;
  tls?: ServerTls;
}

export interface GrpcServer {
  readonly port: number;
  /** Stops accepting, lets calls in flight finish for up to graceMs, then ends what remains. */
  close(graceMs: number): Promise<void>;
}

const GRPC_CONTENT_TYPE = "application/grpc+proto";
const ACCEPT_ENCODING = "identity,deflate,gzip";
/** Headers the server writes itself, and request headers a handler never sees. */
const TRANSPORT_HEADERS = new Set(["content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "accept-encoding"]);
const ignore = (): void => {};

export async function startGrpcServer(routes: ReadonlyMap<string, GrpcRoute>, options: GrpcServerOptions): Promise<GrpcServer> {
  const sessionOptions = {
    // As grpc-js: node's per-session memory cap degrades badly when reached; flow control bounds it.
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
    maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
  };
  const server = options.tls ? http2.createSecureServer({ ...sessionOptions, ...secureServerOptions(options.tls) }) : http2.createServer(sessionOptions);
  // A connection's failure reaches its streams; there is nothing else to tell anyone.
  server.on("session", (session: http2.ServerHttp2Session) => session.on("error", ignore));
  server.on("sessionError", ignore);
  const close = gracefulClose(server);
  const limits = { maxReceiveBytes: options.maxReceiveBytes, maxSendBytes: options.maxSendBytes };
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => dispatch(stream, headers, routes, limits));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close,
  };
}

interface Limits {
  maxReceiveBytes: number;
  maxSendBytes: number;
}

function dispatch(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, routes: ReadonlyMap<string, GrpcRoute>, limits: Limits): void {
  // The stream's failures also close it, which is what a call listens to.
  stream.on("error", ignore);
  if (headers[HTTP2_HEADER_METHOD] !== "POST") {
    return respondHttp(stream, { [HTTP2_HEADER_STATUS]: HTTP_STATUS_METHOD_NOT_ALLOWED, allow: "POST" });
  }
  const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
  if (typeof contentType !== "string" || !isGrpcContentType(contentType)) {
    return respondHttp(stream, { [HTTP2_HEADER_STATUS]: HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE });
  }
  const path = String(headers[HTTP2_HEADER_PATH] ?? "");
  const route = routes.get(path);
  let deadlineAtMs = Infinity;
  let refusal: ConnectError | undefined;
  if (!route) refusal = rpcError(Code.Unimplemented, "UNIMPLEMENTED", `the server does not implement the method ${path}`);
  else {
    const timeout = headers["grpc-timeout"];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(timeout);
      if (ms === undefined) refusal = rpcError(Code.InvalidArgument, "MALFORMED_REQUEST", `the grpc-timeout header ${JSON.stringify(String(timeout))} is not 1 to 8 digits and a unit (H, M, S, m, u, n)`);
      else deadlineAtMs = Date.now() + ms;
    }
  }
  const call = new GrpcServerCall(stream, headers, deadlineAtMs, limits);
  if (refusal) {
    call.fail(refusal);
    return;
  }
  call.begin(route!);
}

function respondHttp(stream: http2.ServerHttp2Stream, headers: http2.OutgoingHttpHeaders): void {
  try {
    stream.respond(headers, { endStream: true });
  } catch {
    // The stream closed meanwhile.
  }
  // Whatever the client still sends is read and dropped, so that its stream can end.
  stream.resume();
}

function isGrpcContentType(contentType: string): boolean {
  return contentType === "application/grpc" || contentType.startsWith("application/grpc+") || contentType.startsWith("application/grpc;");
}

/** A request's metadata as Headers: no pseudo-headers, no transport headers, no `-bin` entries. */
export function requestMetadata(headers: http2.IncomingHttpHeaders): Headers {
  const result = new Headers();
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */ || TRANSPORT_HEADERS.has(name) || name.endsWith("-bin")) continue;
    const value = headers[name];
    if (value !== undefined) result.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return result;
}

/** Reads length-prefixed messages from a request's DATA, bounding each by the limit. */
class MessageReader {
  #chunks: Buffer[] = [];
  #length = 0;
  /** Bytes needed before the next message (or its prefix) is complete: chunks are joined only then. */
  #need = 5;

  constructor(private readonly maxBytes: number) {}

  /** The messages this chunk completes, each with its compressed flag; throws on a prefix over the limit. */
  push(chunk: Buffer): Array<{ compressed: number; bytes: Buffer }> {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (this.#length < this.#need) return NONE;
    let data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#length);
    const messages: Array<{ compressed: number; bytes: Buffer }> = [];
    this.#need = 5;
    while (data.length >= 5) {
      const length = data.readUInt32BE(1);
      if (length > this.maxBytes) throw messageTooLarge(this.maxBytes);
      if (data.length < 5 + length) {
        this.#need = 5 + length;
        break;
      }
      messages.push({ compressed: data[0]!, bytes: data.subarray(5, 5 + length) });
      data = data.subarray(5 + length);
    }
    this.#chunks = data.length > 0 ? [data] : [];
    this.#length = data.length;
    return messages;
  }

  /** Whether bytes of an unfinished message are waiting. */
  get partial(): boolean {
    return this.#length > 0;
  }
}

const NONE: Array<{ compressed: number; bytes: Buffer }> = [];

const malformed = (message: string): ConnectError => rpcError(Code.InvalidArgument, "MALFORMED_REQUEST", message);

/** One call on the gRPC port: its request, and the one way to answer it. */
export class GrpcServerCall {
  /** The one request message of a unary or server-streaming call, uncompressed. */
  request: Buffer = EMPTY;
  #reader: MessageReader;
  #headersSent = false;
  #done = false;
  #cancelled = false;
  #cancelListeners: Array<() => void> | undefined;
  #queue: Buffer[] | undefined;
  #halfClosed = false;
  #wake: (() => void) | undefined;
  #readError: ConnectError | undefined;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    /** The request's headers as they came (pseudo-headers included). */
    readonly headers: http2.IncomingHttpHeaders,
    /** When the client's deadline passes (epoch ms), or Infinity when it set none. */
    readonly deadlineAtMs: number,
    private readonly limits: Limits,
  ) {
    this.#reader = new MessageReader(limits.maxReceiveBytes);
    stream.once("close", () => {
      if (this.#done) return;
      this.#done = true;
      this.#cancelled = true;
      this.#wake?.();
      const listeners = this.#cancelListeners;
      this.#cancelListeners = undefined;
      if (listeners) for (const listener of listeners) listener();
    });
  }

  /** A request header's first value, for names that are not binary (`-bin`). */
  header(name: string): string | undefined {
    const value = this.headers[name];
    return typeof value === "string" ? value : Array.isArray(value) ? value[0] : undefined;
  }

  /** The request's metadata as Headers (requestMetadata). */
  metadata(): Headers {
    return requestMetadata(this.headers);
  }

  /** Whether the client went away before the call's status was sent. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Runs once if the stream closes before the status is sent. */
  onCancel(listener: () => void): void {
    if (this.#cancelled) listener();
    else if (!this.#done) (this.#cancelListeners ??= []).push(listener);
  }

  /** Starts reading: a request stream's route starts now, another once its message is in. */
  begin(route: GrpcRoute): void {
    const stream = this.stream;
    if (route.requestStream) {
      this.#queue = [];
      stream.on("data", (chunk: Buffer) => this.#onStreamData(chunk));
      stream.once("end", () => {
        this.#halfClosed = true;
        if (this.#reader.partial && !this.#readError) this.#readError = malformed("the request stream ended inside a message");
        this.#wake?.();
      });
      route.start(this);
      return;
    }
    let message: { compressed: number; bytes: Buffer } | undefined;
    let failed = false;
    stream.on("data", (chunk: Buffer) => {
      if (failed) return;
      try {
        // The usual case: the whole message in one chunk.
        const messages = this.#reader.push(chunk);
        if (messages.length === 0) return;
        if (message || messages.length > 1) throw malformed("a unary call carries exactly one request message; this one carried more");
        message = messages[0];
      } catch (error) {
        failed = true;
        this.fail(error as ConnectError);
      }
    });
    stream.once("end", () => {
      if (failed || this.#done) return;
      if (this.#reader.partial) return this.fail(malformed("the request ended inside its message"));
      if (!message) return this.fail(malformed("the call carried no request message"));
      let bytes: Buffer;
      try {
        bytes = this.#inflate(message);
      } catch (error) {
        return this.fail(error as ConnectError);
      }
      this.request = bytes;
      // Past CALLS_PER_TURN calls in this turn, the handler starts in a later one (turns.ts);
      // a call whose client went away meanwhile is not started.
      inTurn(() => {
        if (!this.#done) route.start(this);
      });
    });
  }

  /** A request stream's messages, uncompressed, as they arrive; throws the stream's refusal. */
  async *messages(): AsyncGenerator<Buffer> {
    const queue = this.#queue;
    if (!queue) throw new TypeError("messages() is for request-streaming calls");
    while (true) {
      if (queue.length > 0) {
        yield queue.shift()!;
        continue;
      }
      if (this.#readError) throw this.#readError;
      if (this.#halfClosed || this.#done) return;
      if (this.stream.isPaused()) this.stream.resume();
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }

  #onStreamData(chunk: Buffer): void {
    if (this.#readError || this.#done) return;
    try {
      for (const message of this.#reader.push(chunk)) this.#queue!.push(this.#inflate(message));
    } catch (error) {
      this.#readError = error as ConnectError;
    }
    // A client that sends faster than the handler reads waits (HTTP/2 flow control).
    if (this.#queue!.length > 16) this.stream.pause();
    this.#wake?.();
  }

  #inflate(message: { compressed: number; bytes: Buffer }): Buffer {
    if (message.compressed === 0) return message.bytes;
    if (message.compressed !== 1) throw malformed(`a message's compressed flag must be 0 or 1, not ${message.compressed}`);
    const encoding = this.header("grpc-encoding") ?? "identity";
    if (encoding !== "gzip" && encoding !== "deflate") {
      if (encoding === "identity") throw malformed("a message is marked compressed, but the call names no grpc-encoding");
      throw rpcError(Code.Unimplemented, "UNIMPLEMENTED", `the request is compressed with ${JSON.stringify(encoding)}; this server accepts ${ACCEPT_ENCODING}`);
    }
    const max = this.limits.maxReceiveBytes;
    try {
      const options = { maxOutputLength: max + 1 };
      const bytes = encoding === "gzip" ? zlib.gunzipSync(message.bytes, options) : zlib.inflateSync(message.bytes, options);
      if (bytes.length > max) throw messageTooLarge(max);
      return bytes;
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw messageTooLarge(max);
      throw malformed(`the request's ${encoding} message could not be inflated`);
    }
  }

  /** Sends the answer's headers (once; write() and the status send them when needed). */
  sendHeaders(extra?: http2.OutgoingHttpHeaders): void {
    if (this.#headersSent || this.#done) return;
    this.#headersSent = true;
    try {
      this.stream.respond({
        ...extra,
        [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK,
        [HTTP2_HEADER_CONTENT_TYPE]: GRPC_CONTENT_TYPE,
        "grpc-accept-encoding": ACCEPT_ENCODING,
        "grpc-encoding": "identity",
      }, { waitForTrailers: true });
    } catch {
      // The stream closed meanwhile: the close listener cancels the call.
    }
  }

  /** Sends one answer message (the headers first, if they are not out yet). */
  write(message: Uint8Array): void {
    if (this.#done || this.#refusedAsTooLarge(message)) return;
    this.sendHeaders();
    if (!this.#done) this.stream.write(frameMessage(message));
  }

  /** A unary answer in one go: headers, its message, and status OK with the trailers given. */
  answer(extraHeaders: http2.OutgoingHttpHeaders | undefined, message: Uint8Array, trailers?: http2.OutgoingHttpHeaders): void {
    if (this.#done || this.#refusedAsTooLarge(message)) return;
    this.sendHeaders(extraHeaders);
    this.#end({ ...trailers, "grpc-status": "0" }, frameMessage(message));
  }

  /** Ends the call RESOURCE_EXHAUSTED when an answer message is above the send limit. */
  #refusedAsTooLarge(message: Uint8Array): boolean {
    if (message.byteLength <= this.limits.maxSendBytes) return false;
    this.fail(rpcError(Code.ResourceExhausted, "ANSWER_TOO_LARGE", `the answer is larger than ${this.limits.maxSendBytes} bytes`));
    return true;
  }

  /** Ends the call with status OK. */
  end(trailers?: http2.OutgoingHttpHeaders): void {
    if (this.#done) return;
    if (this.#headersSent) this.#end({ ...trailers, "grpc-status": "0" });
    else this.#trailersOnly({ ...trailers, "grpc-status": "0" });
  }

  /** Ends the call with the error's status, message and ErrorInfo. */
  fail(error: ConnectError, trailers?: http2.OutgoingHttpHeaders): void {
    if (this.#done) return;
    const status: http2.OutgoingHttpHeaders = {
      ...trailers,
      "grpc-status": String(error.code),
      "grpc-message": encodeGrpcMessage(error.rawMessage),
      [STATUS_DETAILS_HEADER]: Buffer.from(statusDetailsBytes(error)).toString("base64"),
    };
    if (this.#headersSent) this.#end(status);
    else this.#trailersOnly(status);
  }

  #end(trailers: http2.OutgoingHttpHeaders, last?: Buffer): void {
    this.#done = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    stream.once("wantTrailers", () => {
      try {
        stream.sendTrailers(trailers);
      } catch {
        // Closed meanwhile.
      }
    });
    if (last) stream.end(last);
    else stream.end();
    this.#afterStatus();
  }

  #trailersOnly(status: http2.OutgoingHttpHeaders): void {
    this.#done = true;
    this.#headersSent = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    try {
      stream.respond({ ...status, [HTTP2_HEADER_STATUS]: HTTP_STATUS_OK, [HTTP2_HEADER_CONTENT_TYPE]: GRPC_CONTENT_TYPE }, { endStream: true });
    } catch {
      // Closed meanwhile.
    }
    this.#afterStatus();
  }

  /**
   * Once the status is out, whatever the client still sends is read and dropped, so that its
   * stream can end (a refused call may never have been read at all).
   */
  #afterStatus(): void {
    this.#wake?.();
    this.stream.resume();
  }
}

const EMPTY = Buffer.alloc(0);

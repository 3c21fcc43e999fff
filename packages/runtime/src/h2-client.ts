// A unary gRPC client written directly on node:http2, for calls between services (PROTOCOL.md
// §3 signs the exact bytes this sends). grpc-js's client takes about 170 µs of CPU a call here
// against about 75 µs for the same exchange on node:http2 (docs/performance.md), and a wallet
// payment makes five such calls. What it does, per the gRPC-over-HTTP/2 specification:
// - one HTTP/2 connection per client, opened on the first call and again after it closes or
//   the server sends GOAWAY; a call that finds no connection fails UNAVAILABLE at once, and the
//   next call tries again (no back-off: a service that came back is used at once);
// - each call: POST with `content-type: application/grpc`, `te: trailers`, `grpc-timeout`, the
//   caller's headers, one length-prefixed uncompressed message; it advertises no compression,
//   so a compressed answer is a protocol error;
// - the answer: one message and `grpc-status` 0 in the trailers, or a status in the trailers or
//   a trailers-only answer; `grpc-message` percent-decoded, `-bin` headers base64-decoded;
// - failures reject with what grpc-js's ServiceError carries (`code`, `details`, `metadata`
//   holding the trailers, with `grpc-status-details-bin`), so every caller's classification
//   stays the same. Anything that leaves the outcome unknown is never a definite refusal: an
//   HTTP status is mapped as the specification says, a missing status or message is INTERNAL
//   (grpc-js says UNIMPLEMENTED for "no message", which callers would take as a refusal), a
//   reset stream or a lost connection UNAVAILABLE;
// - the deadline is sent and enforced here too (DEADLINE_EXCEEDED, the stream cancelled);
// - a stream the server refused before processing it (REFUSED_STREAM, or a GOAWAY that did not
//   cover it) is sent once more on a new connection, as HTTP/2 says it was not processed.
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import type { ClientTls } from "./client.js";
import { decodeGrpcMessage, frameMessage, grpcTimeout } from "./grpc-wire.js";
import { inTurn } from "./turns.js";

export interface RawCallResult {
  bytes: Uint8Array;
  headers: grpc.Metadata;
}

/** What a signed client needs of a transport: one unary exchange of exact bytes. */
export interface UnaryTransport {
  unary(procedure: string, bytes: Uint8Array, headers: Record<string, string>, deadlineMs: number): Promise<RawCallResult>;
  close(): void;
}

/** The error a failed call rejects with: the fields of grpc-js's ServiceError. */
export interface CallError extends Error {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

export interface Http2TransportOptions {
  tls?: ClientTls;
  /** Largest answer accepted, in bytes (the message, without its 5-byte prefix). */
  maxReceiveBytes?: number;
}

const {
  HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE,
  NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY, NGHTTP2_NO_ERROR,
} = http2.constants;

const DEFAULT_MAX_RECEIVE_BYTES = 64 * 1024 * 1024;
/** Headers the transport writes itself; a caller's header of these names is a bug. */
const RESERVED_HEADERS = new Set(["content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "user-agent", "host", "connection"]);
const USER_AGENT = "clearmesh-http2/1";
const HEADER_NAME = /^[0-9a-z_.-]+$/;
const HEADER_VALUE = /^[\x20-\x7e]*$/;

export function callError(code: grpc.status, details: string, metadata: grpc.Metadata = new grpc.Metadata()): CallError {
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

/** The gRPC code for an HTTP status other than 200, as the gRPC specification maps them. */
export function codeOfHttpStatus(status: number): grpc.status {
  switch (status) {
    case 400: return grpc.status.INTERNAL;
    case 401: return grpc.status.UNAUTHENTICATED;
    case 403: return grpc.status.PERMISSION_DENIED;
    case 404: return grpc.status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return grpc.status.UNAVAILABLE;
    default: return grpc.status.UNKNOWN;
  }
}

/**
 * The code for a stream the server reset. CANCEL is not CANCELLED here: node closes a stream
 * with CANCEL when its connection closes, too, and the two cannot be told apart.
 */
function codeOfReset(rstCode: number): grpc.status {
  switch (rstCode) {
    case NGHTTP2_ENHANCE_YOUR_CALM: return grpc.status.RESOURCE_EXHAUSTED;
    case NGHTTP2_INADEQUATE_SECURITY: return grpc.status.PERMISSION_DENIED;
    default: return grpc.status.UNAVAILABLE;
  }
}

/** The trailers (or trailers-only headers) as metadata, without the status fields. */
function statusMetadata(headers: http2.IncomingHttpHeaders): grpc.Metadata {
  const metadata = grpc.Metadata.fromHttp2Headers(headers);
  metadata.remove("grpc-status");
  metadata.remove("grpc-message");
  return metadata;
}

export function http2Transport(address: string, options: Http2TransportOptions = {}): UnaryTransport {
  return new Http2Transport(address, options);
}

class Http2Transport implements UnaryTransport {
  readonly #authority: string;
  readonly #connectOptions: http2.SecureClientSessionOptions;
  readonly #maxReceiveBytes: number;
  #session: http2.ClientHttp2Session | undefined;
  #active = 0;
  #closed = false;

  constructor(address: string, options: Http2TransportOptions) {
    this.#authority = `${options.tls ? "https" : "http"}://${address}`;
    this.#maxReceiveBytes = options.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES;
    this.#connectOptions = {
      // As grpc-js: node's per-session memory cap degrades badly when reached; flow control bounds it.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      ...(options.tls ? { ca: options.tls.caPem, cert: options.tls.certPem, key: options.tls.keyPem } : {}),
    };
  }

  unary(procedure: string, bytes: Uint8Array, headers: Record<string, string>, deadlineMs: number): Promise<RawCallResult> {
    if (this.#closed) return Promise.reject(callError(grpc.status.UNAVAILABLE, "the client is closed"));
    const requestHeaders: http2.OutgoingHttpHeaders = {
      [HTTP2_HEADER_METHOD]: "POST",
      [HTTP2_HEADER_PATH]: procedure,
      [HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
      [HTTP2_HEADER_TE]: "trailers",
      "user-agent": USER_AGENT,
    };
    for (const name in headers) {
      const value = headers[name]!;
      // gRPC's ASCII metadata: lower-case names, printable values (node would drop some others silently).
      if (!HEADER_NAME.test(name) || RESERVED_HEADERS.has(name) || name.endsWith("-bin") || !HEADER_VALUE.test(value)) {
        return Promise.reject(new TypeError(`header ${JSON.stringify(name)} cannot be sent by a caller, or not with that value`));
      }
      requestHeaders[name] = value;
    }
    const frame = frameMessage(bytes);
    const deadline = Date.now() + deadlineMs;
    return new Promise<RawCallResult>((resolve, reject) => {
      this.#begin();
      const timer = setTimeout(() => call.expire(), Math.max(0, deadlineMs));
      const finish = (error: CallError | TypeError | undefined, result?: RawCallResult) => {
        clearTimeout(timer);
        this.#end();
        // Past CALLS_PER_TURN answers in this turn, the caller goes on in a later one (turns.ts).
        inTurn(() => (error ? reject(error) : resolve(result!)));
      };
      const call = new UnaryCall(this, requestHeaders, frame, deadline, this.#maxReceiveBytes, finish);
      call.start();
    });
  }

  close(): void {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    if (session && !session.closed) session.close();
  }

  /** The connection new streams go on; a new one if there is none or it is going away. */
  session(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = http2.connect(this.#authority, this.#connectOptions);
    const retire = () => {
      if (this.#session === session) this.#session = undefined;
    };
    // A connection's failure reaches every stream on it; nothing is left to report here.
    session.on("error", retire);
    session.on("close", retire);
    // Going away: no new streams on it; close it once the streams it still carries end.
    session.on("goaway", () => {
      retire();
      if (!session.closed) session.close();
    });
    if (this.#active === 0) session.unref();
    this.#session = session;
    return session;
  }

  #begin(): void {
    if (this.#active++ === 0) this.#session?.ref();
  }

  #end(): void {
    // An idle connection does not keep the process alive (as grpc-js's).
    if (--this.#active === 0) this.#session?.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

class UnaryCall {
  #stream: http2.ClientHttp2Stream | undefined;
  #responseHeaders: http2.IncomingHttpHeaders | undefined;
  #trailers: http2.IncomingHttpHeaders | undefined;
  #chunks: Buffer[] = [];
  #received = 0;
  #failure: CallError | undefined;
  #streamError: Error | undefined;
  #retried = false;
  #done = false;

  constructor(
    private readonly transport: Http2Transport,
    private readonly headers: http2.OutgoingHttpHeaders,
    private readonly frame: Buffer,
    private readonly deadline: number,
    private readonly maxReceiveBytes: number,
    private readonly finish: (error: CallError | TypeError | undefined, result?: RawCallResult) => void,
  ) {}

  start(): void {
    if (this.transport.closed) return this.#settle(callError(grpc.status.UNAVAILABLE, "the client is closed"));
    const remaining = this.deadline - Date.now();
    if (remaining <= 0) return this.#settle(callError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded"));
    this.headers["grpc-timeout"] = grpcTimeout(remaining);
    this.#responseHeaders = undefined;
    this.#trailers = undefined;
    this.#chunks = [];
    this.#received = 0;
    this.#streamError = undefined;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.transport.session().request(this.headers, { endStream: false });
    } catch (error) {
      const code = (error as { code?: string }).code;
      // A header value node refuses is the caller's bug; anything else is the connection's state.
      if (code === "ERR_INVALID_CHAR" || code === "ERR_HTTP2_INVALID_HEADER_VALUE" || code === "ERR_INVALID_HTTP_TOKEN") {
        return this.#settle(new TypeError((error as Error).message));
      }
      return this.#settle(callError(grpc.status.UNAVAILABLE, `could not start the call: ${(error as Error).message}`));
    }
    this.#stream = stream;
    stream.on("response", (headers) => {
      if (stream === this.#stream) this.#responseHeaders = headers;
    });
    stream.on("trailers", (trailers) => {
      if (stream === this.#stream) this.#trailers = trailers;
    });
    stream.on("data", (chunk: Buffer) => {
      if (stream !== this.#stream || this.#failure) return;
      this.#received += chunk.length;
      if (this.#received > this.maxReceiveBytes + 5) {
        this.#failure = callError(grpc.status.RESOURCE_EXHAUSTED, `the answer is larger than ${this.maxReceiveBytes} bytes`);
        stream.close(NGHTTP2_CANCEL);
        return;
      }
      this.#chunks.push(chunk);
    });
    stream.on("error", (error) => {
      if (stream === this.#stream) this.#streamError = error;
    });
    stream.on("close", () => {
      if (stream === this.#stream) this.#closed(stream);
    });
    stream.end(this.frame);
  }

  /** The deadline passed: cancel the stream and answer DEADLINE_EXCEEDED. */
  expire(): void {
    if (this.#done) return;
    this.#failure = callError(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded");
    const stream = this.#stream;
    if (stream && !stream.closed) stream.close(NGHTTP2_CANCEL);
    else this.#settle(this.#failure);
  }

  #closed(stream: http2.ClientHttp2Stream): void {
    if (this.#failure) return this.#settle(this.#failure);
    const headers = this.#responseHeaders;
    const trailers = this.#trailers ?? (headers && headers["grpc-status"] !== undefined ? headers : undefined);
    if (!headers) {
      // Nothing came back. Refused before processing: safe to send once more on a new connection.
      if (stream.rstCode === NGHTTP2_REFUSED_STREAM && !this.#retried) {
        this.#retried = true;
        return this.start();
      }
      const reset = stream.rstCode;
      const cause = this.#streamError?.message ?? `the stream was reset (HTTP/2 code ${reset})`;
      // Only the server's RST_STREAM carries a meaning of its own; a connection that failed or
      // closed (node cancels its pending streams) is UNAVAILABLE.
      const byServer = (this.#streamError as { code?: string } | undefined)?.code === "ERR_HTTP2_STREAM_ERROR";
      const code = byServer && reset !== undefined && reset !== NGHTTP2_NO_ERROR ? codeOfReset(reset) : grpc.status.UNAVAILABLE;
      return this.#settle(callError(code, `no answer: ${cause}`));
    }
    const httpStatus = Number(headers[HTTP2_HEADER_STATUS]);
    if (httpStatus !== 200) {
      return this.#settle(callError(codeOfHttpStatus(httpStatus), `Received HTTP status code ${httpStatus}`, statusMetadata(headers)));
    }
    if (!trailers) {
      const reset = stream.rstCode !== undefined && stream.rstCode !== NGHTTP2_NO_ERROR;
      return this.#settle(callError(reset ? codeOfReset(stream.rstCode) : grpc.status.INTERNAL, reset ? `the stream was reset (HTTP/2 code ${stream.rstCode}) before its status` : "the answer ended without a gRPC status"));
    }
    const status = Number(trailers["grpc-status"]);
    if (!Number.isInteger(status) || status < 0 || status > 16) {
      return this.#settle(callError(grpc.status.INTERNAL, `the answer carried an invalid grpc-status ${JSON.stringify(trailers["grpc-status"])}`));
    }
    if (status !== grpc.status.OK) {
      return this.#settle(callError(status, decodeGrpcMessage(trailers["grpc-message"]), statusMetadata(trailers)));
    }
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    if (body.length < 5) return this.#settle(callError(grpc.status.INTERNAL, "the answer carried no message"));
    if (body[0] !== 0) return this.#settle(callError(grpc.status.INTERNAL, "the answer is compressed, but no compression was offered"));
    const length = body.readUInt32BE(1);
    if (length > this.maxReceiveBytes) return this.#settle(callError(grpc.status.RESOURCE_EXHAUSTED, `the answer is larger than ${this.maxReceiveBytes} bytes`));
    if (body.length !== 5 + length) {
      return this.#settle(callError(grpc.status.INTERNAL, body.length < 5 + length ? "the answer's message is cut short" : "the answer carried more than one message"));
    }
    const message = body.subarray(5);
    this.#settle(undefined, { bytes: message, headers: grpc.Metadata.fromHttp2Headers(headers) });
  }

  #settle(error: CallError | TypeError | undefined, result?: RawCallResult): void {
    if (this.#done) return;
    this.#done = true;
    this.finish(error, result);
  }
}

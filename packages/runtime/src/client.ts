// A client that signs every call as a participant (PROTOCOL.md §3) over the exact bytes it
// sends, and verifies the answering service's response signature. Used service to service, by
// the CLI and by tests. It speaks gRPC over node:http2 (h2-client.ts) unless asked for grpc-js,
// which the tests keep as an independent reference client and the bench's load generator uses
// as a partner's stack would.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMethodUnary, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { HEADER_NONCE, signRpcRequest, verifyRpcResponseAsync, type ResponseKeyLookup, type SigningKey } from "@clearmesh/trust";
import { Code, rpcError } from "./errors.js";
import { procedureOf } from "./registration.js";
import { http2Transport, type RawCallResult, type UnaryTransport } from "./h2-client.js";

export type { RawCallResult, UnaryTransport } from "./h2-client.js";

export interface ClientTls {
  caPem?: Buffer;
  certPem?: Buffer;
  keyPem?: Buffer;
}

export interface SignedClientOptions {
  address: string;
  /** Signs every call; may be overridden per call. Omit for unsigned calls (health, wallet end-user methods). */
  signer?: SigningKey;
  /** When given, every successful response must carry a valid signature by a key it returns. */
  responseKeys?: ResponseKeyLookup;
  /** The participant expected to answer (e.g. "clearing"); checked with responseKeys. */
  expectedResponder?: string;
  tls?: ClientTls;
  defaultDeadlineMs?: number;
  /** "http2" (the default): clearmesh's own unary client on node:http2; "grpc-js": grpc-js's Client. */
  transport?: "http2" | "grpc-js";
  /** grpc-js channel options; only with transport "grpc-js". */
  channelOptions?: grpc.ChannelOptions;
}

export interface CallOptions {
  signer?: SigningKey;
  deadlineMs?: number;
  /** Extra metadata, e.g. `authorization`. */
  metadata?: Record<string, string>;
}

type UnaryMethods<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends DescMethodUnary ? K : never]: S["method"][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : never;
};

export type SignedClient<S extends DescService> = UnaryMethods<S> & {
  /** Sends exact bytes with exact headers, for tests of the wire (unknown fields, tampering). */
  raw(procedure: string, bytes: Uint8Array, headers: Record<string, string>, deadlineMs?: number): Promise<RawCallResult>;
  close(): void;
};

export function channelCredentials(tls: ClientTls | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.caPem ?? null, tls.keyPem ?? null, tls.certPem ?? null);
}

const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

export function createSignedClient<S extends DescService>(service: S, options: SignedClientOptions): SignedClient<S> {
  if (options.channelOptions && options.transport !== "grpc-js") throw new TypeError("channelOptions need transport \"grpc-js\"");
  const transport = options.transport === "grpc-js"
    ? grpcJsTransport(options.address, options.tls, options.channelOptions)
    : http2Transport(options.address, { ...(options.tls ? { tls: options.tls } : {}), maxReceiveBytes: MAX_RECEIVE_BYTES });
  const raw = (procedure: string, bytes: Uint8Array, headers: Record<string, string>, deadlineMs?: number) =>
    transport.unary(procedure, bytes, headers, deadlineMs ?? options.defaultDeadlineMs ?? 30_000);
  const methods: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    methods[method.localName] = async (request: MessageInitShape<typeof method.input>, callOptions: CallOptions = {}) => {
      const procedure = procedureOf(method);
      const bytes = toBinary(method.input, create(method.input, request));
      const signer = callOptions.signer ?? options.signer;
      // Signed here (cheaper than a hand-over); the answer's signature is checked off the event
      // loop unless SIGNATURE_VERIFICATION says otherwise (ed25519VerifyAsync).
      const headers = { ...(signer ? signRpcRequest(signer, procedure, bytes) : {}), ...callOptions.metadata };
      const result = await raw(procedure, bytes, headers, callOptions.deadlineMs);
      if (options.responseKeys && signer) await verifyResponse(options, procedure, headers[HEADER_NONCE]!, result);
      return fromBinary(method.output, result.bytes);
    };
  }
  return { ...methods, raw, close: () => transport.close() } as SignedClient<S>;
}

async function verifyResponse(options: SignedClientOptions, procedure: string, nonce: string, result: RawCallResult): Promise<void> {
  const getHeader = headerGetter(result.headers);
  const responder = getHeader("cm-participant");
  const expectedOk = options.expectedResponder === undefined || responder === options.expectedResponder;
  if (!expectedOk || !(await verifyRpcResponseAsync(getHeader, procedure, nonce, result.bytes, options.responseKeys!))) {
    throw rpcError(Code.Unauthenticated, "BAD_RESPONSE_SIGNATURE", `the response to ${procedure} is not signed by ${options.expectedResponder ?? "a known key"}`);
  }
}

/** The same exchange through grpc-js's Client. */
export function grpcJsTransport(address: string, tls?: ClientTls, channelOptions?: grpc.ChannelOptions): UnaryTransport {
  const client = new grpc.Client(address, channelCredentials(tls), { "grpc.max_receive_message_length": MAX_RECEIVE_BYTES, ...channelOptions });
  return {
    unary: (procedure, bytes, headers, deadlineMs) => rawUnary(client, procedure, bytes, headers, deadlineMs),
    close: () => client.close(),
  };
}

function rawUnary(client: grpc.Client, procedure: string, bytes: Uint8Array, headers: Record<string, string>, deadlineMs: number): Promise<RawCallResult> {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return new Promise((resolve, reject) => {
    let responseHeaders = new grpc.Metadata();
    const call = client.makeUnaryRequest<Uint8Array, Buffer>(
      procedure,
      (message) => Buffer.from(message.buffer, message.byteOffset, message.byteLength),
      (buffer) => buffer,
      bytes,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (error, response) => (error ? reject(error) : resolve({ bytes: response!, headers: responseHeaders })),
    );
    call.on("metadata", (received) => {
      responseHeaders = received;
    });
  });
}

/** Reads an answer's header (its first value) from grpc-js metadata. */
export function headerGetter(metadata: grpc.Metadata): (name: string) => string | undefined {
  return (name) => {
    const values = metadata.get(name);
    return values.length > 0 ? String(values[0]) : undefined;
  };
}

// One way to raise and read clearmesh errors: a gRPC status plus a google.rpc.ErrorInfo detail
// with domain "clearmesh" and a stable UPPER_SNAKE reason (PROTOCOL.md §7).
import { create, fromBinary, toBinary, createRegistry, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { RpcStatusSchema, googleRpc } from "@clearmesh/contracts";

export const ERROR_DOMAIN = "clearmesh";
export const STATUS_DETAILS_HEADER = "grpc-status-details-bin";

/** Builds the error every handler throws: code, stable reason, a message safe to show. */
export function rpcError(code: Code, reason: string, message: string, metadata: Record<string, string> = {}): ConnectError {
  const info = create(googleRpc.ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata });
  return new ConnectError(message, code, undefined, [{ desc: googleRpc.ErrorInfoSchema, value: info }]);
}

/** The ErrorInfo reason of any error (ConnectError or grpc-js ServiceError), if it carries one. */
export function errorReason(error: unknown): string | undefined {
  return errorInfo(error)?.reason;
}

/** The ErrorInfo detail of any error (ConnectError or grpc-js ServiceError), if it carries one. */
export function errorInfo(error: unknown): googleRpc.ErrorInfo | undefined {
  if (error instanceof ConnectError) {
    return error.findDetails(googleRpc.ErrorInfoSchema)[0];
  }
  const metadata = (error as { metadata?: { get(key: string): unknown[] } } | undefined)?.metadata;
  const raw = metadata?.get?.(STATUS_DETAILS_HEADER)?.[0];
  if (!(raw instanceof Uint8Array)) return undefined;
  return errorInfoFromStatusBytes(raw);
}

const detailRegistry = createRegistry(googleRpc.ErrorInfoSchema);

/** Decodes google.rpc.Status bytes and returns its first ErrorInfo detail. */
export function errorInfoFromStatusBytes(bytes: Uint8Array): googleRpc.ErrorInfo | undefined {
  try {
    const status = fromBinary(RpcStatusSchema, bytes);
    for (const detail of status.details) {
      const unpacked = anyUnpack(detail, detailRegistry);
      if (unpacked && unpacked.$typeName === "google.rpc.ErrorInfo") return unpacked as googleRpc.ErrorInfo;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Encodes an error as the google.rpc.Status bytes of the grpc-status-details-bin trailer. */
export function statusDetailsBytes(error: ConnectError): Uint8Array {
  const details = error.findDetails(googleRpc.ErrorInfoSchema).map((info) => anyPack(googleRpc.ErrorInfoSchema, info));
  return toBinary(RpcStatusSchema, create(RpcStatusSchema, { code: error.code, message: error.rawMessage, details }));
}

/** A request above MAX_REQUEST_BYTES, on either port. */
export function messageTooLarge(maxBytes: number): ConnectError {
  return rpcError(Code.ResourceExhausted, "MESSAGE_TOO_LARGE", `the request is larger than ${maxBytes} bytes`);
}

/** The request's bytes as its message, or INVALID_ARGUMENT / MALFORMED_REQUEST (either port). */
export function decodeRequest<T extends DescMessage>(schema: T, bytes: Uint8Array): MessageShape<T> {
  try {
    return fromBinary(schema, bytes);
  } catch {
    throw rpcError(Code.InvalidArgument, "MALFORMED_REQUEST", `the request is not a valid ${schema.typeName}`);
  }
}

/** Turns anything thrown into a ConnectError without leaking internals to the caller. */
export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  return rpcError(Code.Internal, "INTERNAL", "internal error");
}

export { Code, ConnectError };

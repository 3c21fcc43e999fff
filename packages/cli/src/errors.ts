// How the CLI fails: a CliError carries its exit code (1 call or validation error, 2 usage
// error); RPC failures are printed as `ERROR <CODE> <REASON>: <message>`.
import * as grpc from "@grpc/grpc-js";
import { ConnectError, errorReason } from "@clearmesh/runtime";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_FAILURE) {
    super(message);
    this.name = "CliError";
  }
}

/** A mistake in how the command was spelled: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
  }
}

interface GrpcServiceError {
  code: number;
  details: string;
  metadata: grpc.Metadata;
}

function isGrpcServiceError(error: unknown): error is GrpcServiceError {
  const candidate = error as Partial<GrpcServiceError> | null;
  return typeof candidate === "object" && candidate !== null && typeof candidate.code === "number" && typeof candidate.details === "string";
}

/** The gRPC status code name, e.g. PERMISSION_DENIED (connect and grpc-js share the numbers). */
export function statusCodeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** `ERROR <CODE> <REASON>: <message>` for an RPC failure, or undefined for any other error. */
export function formatRpcError(error: unknown): string | undefined {
  let code: number;
  let message: string;
  if (error instanceof ConnectError) {
    code = error.code;
    message = error.rawMessage;
  } else if (isGrpcServiceError(error)) {
    code = error.code;
    message = error.details;
  } else {
    return undefined;
  }
  const reason = errorReason(error);
  return `ERROR ${statusCodeName(code)}${reason ? ` ${reason}` : ""}: ${message}`;
}

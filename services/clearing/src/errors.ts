// Every clearing error reason and its gRPC code, in one table (PROTOCOL.md §7).
import { Code, rpcError, type ConnectError } from "@clearmesh/runtime";

export const clearingReasons = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  SAME_PARTICIPANT: Code.InvalidArgument,
  UNKNOWN_PARTICIPANT: Code.NotFound,
  PARTICIPANT_INACTIVE: Code.FailedPrecondition,
  CURRENCY_NOT_ENABLED: Code.FailedPrecondition,
  KEY_NOT_FOUND: Code.NotFound,
  TRANSFER_NOT_FOUND: Code.NotFound,
  IDEMPOTENCY_CONFLICT: Code.AlreadyExists,
  PERMISSION_DENIED: Code.PermissionDenied,
} as const satisfies Record<string, Code>;

export type ClearingReason = keyof typeof clearingReasons;

export function clearingError(reason: ClearingReason, message: string, metadata: Record<string, string> = {}): ConnectError {
  return rpcError(clearingReasons[reason], reason, message, metadata);
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): ConnectError {
  return clearingError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

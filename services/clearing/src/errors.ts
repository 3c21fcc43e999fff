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
  LIQUIDITY_LIMIT_EXCEEDED: Code.FailedPrecondition,
  INSUFFICIENT_FUNDS: Code.FailedPrecondition,
  CAP_ABOVE_BALANCE: Code.FailedPrecondition,
  AMOUNT_TOO_SMALL: Code.InvalidArgument,
  AMOUNT_OVERFLOW: Code.InvalidArgument,
  TRANSFER_EXPIRED: Code.FailedPrecondition,
  TRANSFER_ABORTED: Code.FailedPrecondition,
  TRANSFER_COMMITTED: Code.FailedPrecondition,
  FULFILMENT_MISMATCH: Code.FailedPrecondition,
  PARTIAL_AMOUNT_TOO_LARGE: Code.InvalidArgument,
  PARTIAL_COMMIT_NOT_ALLOWED: Code.FailedPrecondition,
  QUOTE_NOT_FOUND: Code.NotFound,
  QUOTE_EXPIRED: Code.FailedPrecondition,
  QUOTE_MISMATCH: Code.FailedPrecondition,
  QUOTE_ALREADY_USED: Code.FailedPrecondition,
  FX_RATE_NOT_FOUND: Code.FailedPrecondition,
  WINDOW_NOT_FOUND: Code.NotFound,
  WINDOW_NOT_FAILED: Code.FailedPrecondition,
  PARTY_NOT_FOUND: Code.NotFound,
  PARTY_TAKEN: Code.AlreadyExists,
  STANDBY: Code.Unavailable,
  STORE_UNAVAILABLE: Code.Unavailable,
} as const satisfies Record<string, Code>;

export type ClearingReason = keyof typeof clearingReasons;

export function clearingError(reason: ClearingReason, message: string, metadata: Record<string, string> = {}): ConnectError {
  return rpcError(clearingReasons[reason], reason, message, metadata);
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): ConnectError {
  return clearingError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

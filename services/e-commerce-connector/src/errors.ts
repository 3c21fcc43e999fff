// Every e-commerce connector error reason and its gRPC code, in one table (PROTOCOL.md §7).
// The domain throws CommerceFailure (a reason, a safe message, ErrorInfo metadata); the handlers'
// edge turns it into the typed error of this table. Signature reasons come from the runtime.
import { Code, rpcError, type ConnectError } from "@clearmesh/runtime";

export const commerceReasons = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  PERMISSION_DENIED: Code.PermissionDenied,
  IDEMPOTENCY_CONFLICT: Code.AlreadyExists,
  MERCHANT_ID_TAKEN: Code.AlreadyExists,
  WEBHOOK_URL_INVALID: Code.InvalidArgument,
  ACQUIRER_NOT_HOSTED: Code.FailedPrecondition,
  UNKNOWN_PARTICIPANT: Code.NotFound,
  PARTICIPANT_INACTIVE: Code.FailedPrecondition,
  CURRENCY_NOT_ENABLED: Code.FailedPrecondition,
  INTENT_NOT_FOUND: Code.NotFound,
  INTENT_STATE_INVALID: Code.FailedPrecondition,
  TRANSFER_MISMATCH: Code.FailedPrecondition,
  CARD_DECLINED: Code.FailedPrecondition,
  CAPTURE_ABOVE_AUTHORIZED: Code.FailedPrecondition,
  REFUND_ABOVE_CAPTURED: Code.FailedPrecondition,
  WEBHOOK_NOT_FOUND: Code.NotFound,
  UPSTREAM_UNAVAILABLE: Code.Unavailable,
} as const satisfies Record<string, Code>;

export type CommerceReason = keyof typeof commerceReasons;

/** A refusal of the domain: nothing was changed by the call that raised it. */
export class CommerceFailure extends Error {
  constructor(readonly reason: CommerceReason, message: string, readonly metadata: Record<string, string> = {}) {
    super(message);
    this.name = "CommerceFailure";
  }
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): CommerceFailure {
  return new CommerceFailure("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

export function commerceError(failure: CommerceFailure): ConnectError {
  return rpcError(commerceReasons[failure.reason], failure.reason, failure.message, failure.metadata);
}

// Every bank-adapter error reason and its gRPC code, in one table (PROTOCOL.md §7), the domain
// error the services throw, and the reasons the settlement bank gives in
// clearmesh.settlement.instruction.failed events.
import { Code, rpcError, type ConnectError } from "@clearmesh/runtime";

export const bankAdapterReasons = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  PERMISSION_DENIED: Code.PermissionDenied,
  IDEMPOTENCY_CONFLICT: Code.AlreadyExists,
  SETTLEMENT_ACCOUNT_NOT_FOUND: Code.NotFound,
  // Accounts and statements.
  BANK_NOT_HOSTED: Code.NotFound,
  ACCOUNT_NOT_FOUND: Code.NotFound,
  CURRENCY_MISMATCH: Code.InvalidArgument,
  INSUFFICIENT_FUNDS: Code.FailedPrecondition,
  AMOUNT_OVERFLOW: Code.InvalidArgument,
  STATEMENT_TOO_LARGE: Code.OutOfRange,
  // The suspense book.
  SUSPENSE_NOT_FOUND: Code.NotFound,
  SUSPENSE_ALREADY_RESOLVED: Code.FailedPrecondition,
  // Mandates and pulls.
  HOLDER_UNREACHABLE: Code.FailedPrecondition,
  MANDATE_NOT_FOUND: Code.NotFound,
  MANDATE_NOT_PENDING: Code.FailedPrecondition,
  MANDATE_NOT_ACTIVE: Code.FailedPrecondition,
  MANDATE_CODE_INVALID: Code.FailedPrecondition,
  MANDATE_CODE_EXPIRED: Code.FailedPrecondition,
  MANDATE_LIMIT_EXCEEDED: Code.FailedPrecondition,
  // Card vault and authorizations.
  CARD_NUMBER_INVALID: Code.InvalidArgument,
  CARD_EXPIRED: Code.FailedPrecondition,
  CARD_TOKEN_UNKNOWN: Code.NotFound,
  AUTHORIZATION_NOT_FOUND: Code.NotFound,
  AUTHORIZATION_STATE_INVALID: Code.FailedPrecondition,
  CAPTURE_NOT_COMMITTED: Code.FailedPrecondition,
  CAPTURE_AMOUNT_MISMATCH: Code.FailedPrecondition,
  CAPTURE_ABOVE_AUTHORIZATION: Code.InvalidArgument,
  REFUND_ABOVE_CAPTURE: Code.FailedPrecondition,
  REFUND_TRANSFER_MISMATCH: Code.FailedPrecondition,
  // Clearing's refusals, passed on with clearing's reason (CLEARING_REFUSED for any other).
  LIQUIDITY_LIMIT_EXCEEDED: Code.FailedPrecondition,
  PARTICIPANT_INACTIVE: Code.FailedPrecondition,
  CURRENCY_NOT_ENABLED: Code.FailedPrecondition,
  UNKNOWN_PARTICIPANT: Code.NotFound,
  SAME_PARTICIPANT: Code.InvalidArgument,
  AMOUNT_TOO_SMALL: Code.InvalidArgument,
  CLEARING_REFUSED: Code.FailedPrecondition,
  /** Clearing did not answer: the outcome is unknown, the hold stays; repeat with the same id. */
  CLEARING_UNAVAILABLE: Code.Unavailable,
} as const satisfies Record<string, Code>;

export type BankAdapterReason = keyof typeof bankAdapterReasons;

/** Clearing reasons the bank answers as they are; any other clearing refusal is CLEARING_REFUSED. */
export const PASSED_ON_CLEARING_REASONS: ReadonlySet<string> = new Set<BankAdapterReason>([
  "LIQUIDITY_LIMIT_EXCEEDED", "PARTICIPANT_INACTIVE", "CURRENCY_NOT_ENABLED", "UNKNOWN_PARTICIPANT", "SAME_PARTICIPANT",
  "AMOUNT_TOO_SMALL", "IDEMPOTENCY_CONFLICT",
]);

/** A refusal decided by the bank's domain code; the handlers turn it into the typed RPC error. */
export class BankError extends Error {
  constructor(readonly reason: BankAdapterReason, message: string, readonly metadata: Record<string, string> = {}) {
    super(message);
    this.name = "BankError";
  }
}

/** INVALID_ARGUMENT naming the field, as a domain error. */
export function fieldError(field: string, problem: string): BankError {
  return new BankError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

export function bankAdapterError(reason: BankAdapterReason, message: string, metadata: Record<string, string> = {}): ConnectError {
  return rpcError(bankAdapterReasons[reason], reason, message, metadata);
}

/** A domain error as the RPC error of the reason table; anything else is left as it is. */
export function toRpcError(error: unknown): unknown {
  return error instanceof BankError ? bankAdapterError(error.reason, error.message, error.metadata) : error;
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): ConnectError {
  return bankAdapterError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

/** Not answered over gRPC: the prefix of a failed settlement batch's `reason` (see books.ts). */
export { settlementFailureReasons, type SettlementFailureReason } from "./settlement/books.js";

// Every wallet error reason and its gRPC code, in one table (PROTOCOL.md §7, docs/wallet.md).
// Domain code throws WalletError with a reason; the handlers' edge turns it into the typed error.
import { Code, rpcError, type ConnectError } from "@clearmesh/runtime";

export const walletReasons = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  WEAK_PASSWORD: Code.InvalidArgument,
  SAME_USER: Code.InvalidArgument,
  AMOUNT_TOO_SMALL: Code.InvalidArgument,
  AMOUNT_OVERFLOW: Code.InvalidArgument,
  UNAUTHENTICATED: Code.Unauthenticated,
  PERMISSION_DENIED: Code.PermissionDenied,
  PROVIDER_NOT_HOSTED: Code.NotFound,
  PAYEE_NOT_FOUND: Code.NotFound,
  TRANSACTION_NOT_FOUND: Code.NotFound,
  QUOTE_NOT_FOUND: Code.NotFound,
  EMAIL_TAKEN: Code.AlreadyExists,
  PHONE_TAKEN: Code.AlreadyExists,
  IDEMPOTENCY_CONFLICT: Code.AlreadyExists,
  RATE_LIMITED: Code.ResourceExhausted,
  INSUFFICIENT_FUNDS: Code.FailedPrecondition,
  TOTP_ALREADY_ACTIVE: Code.FailedPrecondition,
  TOTP_NOT_ENROLLED: Code.FailedPrecondition,
  TOTP_CODE_INVALID: Code.FailedPrecondition,
  BALANCE_NOT_ZERO: Code.FailedPrecondition,
  MOVEMENT_IN_FLIGHT: Code.FailedPrecondition,
  LIQUIDITY_LIMIT_EXCEEDED: Code.FailedPrecondition,
  CURRENCY_NOT_ENABLED: Code.FailedPrecondition,
  PARTICIPANT_INACTIVE: Code.FailedPrecondition,
  QUOTE_EXPIRED: Code.FailedPrecondition,
  QUOTE_MISMATCH: Code.FailedPrecondition,
  QUOTE_ALREADY_USED: Code.FailedPrecondition,
  CLEARING_REFUSED: Code.FailedPrecondition,
  CLEARING_UNAVAILABLE: Code.Unavailable,
  MANDATE_INVALID: Code.PermissionDenied,
  BANK_ACCOUNT_NOT_FOUND: Code.NotFound,
  BANK_ACCOUNT_NOT_ACTIVE: Code.FailedPrecondition,
  CURRENCY_MISMATCH: Code.FailedPrecondition,
  MANDATE_LIMIT_EXCEEDED: Code.FailedPrecondition,
  BANK_REFUSED: Code.FailedPrecondition,
  BANK_UNAVAILABLE: Code.Unavailable,
  INTENT_NOT_FOUND: Code.NotFound,
  INTENT_NOT_PAYABLE: Code.FailedPrecondition,
  CONNECTOR_REFUSED: Code.FailedPrecondition,
  CONNECTOR_UNAVAILABLE: Code.Unavailable,
} as const satisfies Record<string, Code>;

export type WalletReason = keyof typeof walletReasons;

/** Clearing's reasons the wallet passes on unchanged (same code); any other refusal is CLEARING_REFUSED. */
export const PASSED_ON_CLEARING_REASONS: ReadonlySet<string> = new Set<WalletReason>([
  "LIQUIDITY_LIMIT_EXCEEDED", "CURRENCY_NOT_ENABLED", "PARTICIPANT_INACTIVE", "AMOUNT_TOO_SMALL", "AMOUNT_OVERFLOW",
  "QUOTE_EXPIRED", "QUOTE_MISMATCH", "QUOTE_ALREADY_USED", "QUOTE_NOT_FOUND",
]);

/** Bank-adapter reasons that mean the mandate does not (or no longer) allow the pull or link. */
export const MANDATE_REFUSALS: ReadonlySet<string> = new Set([
  "MANDATE_CODE_INVALID", "MANDATE_CODE_EXPIRED", "MANDATE_NOT_PENDING", "MANDATE_NOT_ACTIVE", "MANDATE_NOT_FOUND",
]);

/**
 * The one answer to every failed authentication: wrong password, unknown e-mail, wrong or missing
 * code, locked account, missing, expired or revoked session. Nothing in it tells them apart.
 */
export const UNAUTHENTICATED_MESSAGE = "authentication failed";

/** A refusal of the wallet's domain, mapped to its code at the edge. */
export class WalletError extends Error {
  constructor(readonly reason: WalletReason, message: string, readonly metadata: Record<string, string> = {}) {
    super(message);
    this.name = "WalletError";
  }
}

export function walletError(reason: WalletReason, message: string, metadata: Record<string, string> = {}): ConnectError {
  return rpcError(walletReasons[reason], reason, message, metadata);
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): WalletError {
  return new WalletError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

export function unauthenticated(): WalletError {
  return new WalletError("UNAUTHENTICATED", UNAUTHENTICATED_MESSAGE);
}

// Card authorizations, captures, voids and refunds. The bank is the clearing payer; the acquirer
// (the signer of these calls) is the payee and commits the transfer at clearing itself.
//
// Order of effects (nothing lost, nothing twice):
// - AuthorizeCard: one transaction records the authorization PREPARING and holds the amount;
//   then PrepareTransfer at clearing (signed by the bank, transfer_id = authorization_id,
//   expires_at = the authorization's expiry); then AUTHORIZED, or on a refusal REFUSED with the
//   hold released (a repeat answers the same refusal, as clearing does). No answer: the hold stays
//   and the sweeper (or a repeat) asks clearing.
// - Capture: the acquirer committed at clearing. The bank reads the transfer (GetTransfer) and,
//   in one transaction, moves the authorization to CAPTURED, debits the committed amount and
//   releases the rest of the hold. The transfer.committed event runs the same step, so the
//   capture is booked exactly once whichever comes first.
// - Void: AbortTransfer at clearing, then VOIDED and the hold released. Expiry at clearing
//   (transfer.expired, or GetTransfer by the sweeper) makes it EXPIRED and releases the hold.
// - Refund: the acquirer pays the money back with its own clearing transfer to the bank
//   (payee_reference = the authorization id); RefundCapture checks that transfer at clearing and
//   credits the account once, keyed by the transfer id (`credit:<transfer id>`), which is also
//   what keeps the transfer.committed consumer from crediting it a second time.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AuthorizationSchema, AuthorizationState, TransferState, type AuthorizeCardRequest, type Authorization, type CaptureAuthorizationRequest,
  type RefundCaptureRequest, type Transfer, type VoidAuthorizationRequest,
} from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import { UniqueViolationError, type Store, type Transaction } from "@clearmesh/store";
import { credit, debitHeld, findAccount, placeHold, releaseHold } from "../accounts/repository.js";
import { clearingRefusal, clearingUnavailable, type ClearingGateway, type ClearingOutcome } from "../clearing.js";
import { BankError, fieldError } from "../errors.js";
import { requireSameRequest } from "../idempotency.js";
import { MAX_REFERENCE_CHARS, optionalTimestampMs, requireId, requireParticipantId, requirePositiveMoney, requireText, type Amount } from "../validation.js";
import { cardExpired } from "./pan.js";
import {
  addRefunded, claimRefund, findAuthorization, findCard, findRefund, insertAuthorization, insertRefund, markAuthorized, markCaptured,
  markEnded, touchAuthorization, type AuthorizationRow, type AuthorizationStateText,
} from "./repository.js";
import { CARD_TOKEN_PATTERN } from "./vault.js";

/** Why the bank voids at clearing (AbortTransfer.reason). */
const VOID_REASON = "voided by the acquirer";
/** A PREPARING authorization whose transfer clearing never saw is not prepared again this close to its expiry. */
const MIN_PREPARE_HEADROOM_MS = 1_000;

export interface AuthorizationServiceDeps {
  store: Store;
  clearing: ClearingGateway;
  authorizationTtlMs: number;
  now: () => number;
  logger: Logger;
}

export type AuthorizationService = ReturnType<typeof createAuthorizationService>;

export function createAuthorizationService(deps: AuthorizationServiceDeps) {
  const reread = async (authorizationId: string) => (await findAuthorization(deps.store, authorizationId))!;

  async function authorizationFor(authorizationId: string, caller: Caller): Promise<AuthorizationRow> {
    const row = await findAuthorization(deps.store, requireId("authorization_id", authorizationId));
    if (!row) throw new BankError("AUTHORIZATION_NOT_FOUND", `no authorization ${authorizationId}`, { field: "authorization_id" });
    if (caller.participantId !== row.acquirerId) throw new BankError("PERMISSION_DENIED", `${caller.participantId} is not this authorization's acquirer`);
    return row;
  }

  async function authorize(request: AuthorizeCardRequest, caller: Caller): Promise<Authorization> {
    requireId("authorization_id", request.authorizationId);
    if (!CARD_TOKEN_PATTERN.test(request.cardToken)) throw fieldError("card_token", "is not a card token");
    const amount = requirePositiveMoney("amount", request.amount);
    requireParticipantId("acquirer_id", request.acquirerId);
    if (caller.participantId !== request.acquirerId) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not authorize for ${request.acquirerId}`);
    requireText("merchant_reference", request.merchantReference, MAX_REFERENCE_CHARS);
    const requestedExpiresAtMs = optionalTimestampMs("expires_at", request.expiresAt) ?? 0;
    const card = await findCard(deps.store, request.cardToken);
    if (!card) throw new BankError("CARD_TOKEN_UNKNOWN", "no card has this token", { field: "card_token" });
    const existing = await findAuthorization(deps.store, request.authorizationId);
    if (existing) return repeatAuthorize(existing, request, amount, requestedExpiresAtMs);
    const nowMs = deps.now();
    if (cardExpired(card.expiryMonth, card.expiryYear, nowMs)) throw new BankError("CARD_EXPIRED", "the card has expired", { field: "card_token" });
    const account = (await findAccount(deps.store, card.accountId))!;
    if (amount.currency !== account.currency) throw new BankError("CURRENCY_MISMATCH", `the card's account is in ${account.currency}`, { field: "amount.currency" });
    const latestMs = nowMs + deps.authorizationTtlMs;
    if (requestedExpiresAtMs !== 0 && (requestedExpiresAtMs <= nowMs || requestedExpiresAtMs > latestMs)) {
      throw fieldError("expires_at", `must be in the future and at most ${deps.authorizationTtlMs} ms from now`);
    }
    const row: AuthorizationRow = {
      authorizationId: request.authorizationId, cardToken: card.cardToken, maskedPan: card.maskedPan, accountId: account.accountId,
      bankId: account.bankId, acquirerId: request.acquirerId, currency: amount.currency, amountMinor: amount.amountMinor,
      merchantReference: request.merchantReference, requestedExpiresAtMs, expiresAtMs: requestedExpiresAtMs || latestMs, state: "PREPARING",
      heldMinor: amount.amountMinor, capturedMinor: 0n, refundedMinor: 0n, refusalReason: "", refusalMessage: "", createdAtMs: nowMs, updatedAtMs: nowMs,
    };
    try {
      await deps.store.transaction(async (tx) => {
        await insertAuthorization(tx, row);
        if (!(await placeHold(tx, account.accountId, amount.amountMinor))) {
          throw new BankError("INSUFFICIENT_FUNDS", "the account's free balance does not cover the amount", { field: "amount.amount_minor" });
        }
      });
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await findAuthorization(deps.store, request.authorizationId);
      if (!raced) throw error;
      return repeatAuthorize(raced, request, amount, requestedExpiresAtMs);
    }
    deps.logger.info({ authorizationId: row.authorizationId, maskedPan: row.maskedPan, amountMinor: String(row.amountMinor) }, "card amount held; preparing at clearing");
    const settled = await settlePrepared(row, await deps.clearing.prepareTransfer(row.bankId, prepareRequest(row)));
    return answerAuthorize(settled);
  }

  async function repeatAuthorize(existing: AuthorizationRow, request: AuthorizeCardRequest, amount: Amount, requestedExpiresAtMs: number): Promise<Authorization> {
    requireSameRequest("authorization_id", existing.authorizationId, [
      ["card_token", existing.cardToken, request.cardToken], ["amount.currency", existing.currency, amount.currency],
      ["amount.amount_minor", existing.amountMinor, amount.amountMinor], ["acquirer_id", existing.acquirerId, request.acquirerId],
      ["merchant_reference", existing.merchantReference, request.merchantReference], ["expires_at", existing.requestedExpiresAtMs, requestedExpiresAtMs],
    ]);
    return answerAuthorize(existing.state === "PREPARING" ? await resolve(existing) : existing);
  }

  function answerAuthorize(row: AuthorizationRow): Authorization {
    if (row.state === "REFUSED") throw clearingRefusal({ kind: "refused", reason: row.refusalReason, message: row.refusalMessage, field: "" });
    if (row.state === "PREPARING") throw clearingUnavailable("the amount is held; repeat the authorization with the same authorization_id");
    return authorizationMessage(row);
  }

  /** Books clearing's answer about a PREPARING (or later) authorization's transfer; returns the row as it is then. */
  async function settlePrepared(row: AuthorizationRow, outcome: ClearingOutcome): Promise<AuthorizationRow> {
    if (outcome.kind === "unknown") {
      deps.logger.warn({ authorizationId: row.authorizationId, problem: outcome.problem }, "clearing did not answer; the authorization stays held");
      await touchAuthorization(deps.store, row.authorizationId, deps.now());
      return reread(row.authorizationId);
    }
    if (outcome.kind === "refused") {
      // Clearing's own reason and message are kept, so a repeat answers the same refusal.
      await deps.store.transaction(async (tx) => {
        if (await markEnded(tx, row.authorizationId, "REFUSED", deps.now(), { reason: outcome.reason, message: outcome.message })) {
          await releaseHold(tx, row.accountId, row.amountMinor);
        }
      });
      deps.logger.info({ authorizationId: row.authorizationId, reason: outcome.reason }, "clearing refused the authorization; hold released");
      return reread(row.authorizationId);
    }
    await deps.store.transaction((tx) => applyTransferState(tx, row, outcome.transfer, deps.now(), deps.logger));
    return reread(row.authorizationId);
  }

  /**
   * What happened to an open authorization's transfer at clearing: GetTransfer; when clearing has
   * none and there is time left, the same PrepareTransfer again (idempotent there); when there is
   * no time left, it expired.
   */
  async function resolve(row: AuthorizationRow): Promise<AuthorizationRow> {
    const known = await deps.clearing.getTransfer(row.bankId, row.authorizationId);
    if (known.kind === "ok") await settlePrepared(row, known);
    else if (known.kind === "refused" && known.reason === "TRANSFER_NOT_FOUND" && row.state === "PREPARING") {
      if (row.expiresAtMs - deps.now() > MIN_PREPARE_HEADROOM_MS) await settlePrepared(row, await deps.clearing.prepareTransfer(row.bankId, prepareRequest(row)));
      else await deps.store.transaction((tx) => applyEnded(tx, row, "EXPIRED", deps.now(), deps.logger));
    }
    // Still open: looked at now, so the sweeper turns to others first.
    await touchAuthorization(deps.store, row.authorizationId, deps.now());
    return reread(row.authorizationId);
  }

  /** An open authorization settled against clearing first, so captures and voids act on what clearing knows. */
  async function openAfterResolve(row: AuthorizationRow): Promise<AuthorizationRow> {
    if (row.state !== "PREPARING") return row;
    const resolved = await resolve(row);
    if (resolved.state === "PREPARING") throw clearingUnavailable("the authorization is still being prepared; try again");
    return resolved;
  }

  async function capture(request: CaptureAuthorizationRequest, caller: Caller): Promise<Authorization> {
    let row = await authorizationFor(request.authorizationId, caller);
    const asked = request.amount === undefined ? undefined : requirePositiveMoney("amount", request.amount);
    if (asked && asked.currency !== row.currency) throw new BankError("CURRENCY_MISMATCH", `the authorization is in ${row.currency}`, { field: "amount.currency" });
    if (asked && asked.amountMinor > row.amountMinor) {
      throw new BankError("CAPTURE_ABOVE_AUTHORIZATION", `at most ${row.amountMinor} can be captured`, { field: "amount.amount_minor" });
    }
    row = await openAfterResolve(row);
    if (row.state === "AUTHORIZED") row = await captureAtClearing(row, asked?.amountMinor);
    if (row.state !== "CAPTURED") throw stateInvalid(row, "captured", ["AUTHORIZED"]);
    if (asked && asked.amountMinor !== row.capturedMinor) {
      throw new BankError("CAPTURE_AMOUNT_MISMATCH", `clearing committed ${row.capturedMinor}`, { field: "amount.amount_minor" });
    }
    return authorizationMessage(row);
  }

  /**
   * Reads the transfer at clearing and books what it says; CAPTURE_NOT_COMMITTED while it is only
   * reserved. An asked amount that differs from the committed one is refused before anything is
   * booked (the committed-event consumer books the capture on its own).
   */
  async function captureAtClearing(row: AuthorizationRow, askedMinor: bigint | undefined): Promise<AuthorizationRow> {
    const outcome = await deps.clearing.getTransfer(row.bankId, row.authorizationId);
    if (outcome.kind === "unknown") throw clearingUnavailable("the capture was not booked; try again");
    if (outcome.kind === "refused") throw clearingRefusal(outcome);
    if (outcome.transfer.state === TransferState.RESERVED) {
      throw new BankError("CAPTURE_NOT_COMMITTED", "the acquirer has not committed the transfer at clearing", { field: "authorization_id" });
    }
    const committedMinor = outcome.transfer.amount?.amountMinor;
    if (outcome.transfer.state === TransferState.COMMITTED && askedMinor !== undefined && committedMinor !== askedMinor) {
      throw new BankError("CAPTURE_AMOUNT_MISMATCH", `clearing committed ${committedMinor ?? 0n}`, { field: "amount.amount_minor" });
    }
    return settlePrepared(row, outcome);
  }

  async function voidAuthorization(request: VoidAuthorizationRequest, caller: Caller): Promise<Authorization> {
    let row = await openAfterResolve(await authorizationFor(request.authorizationId, caller));
    if (row.state === "AUTHORIZED") {
      const outcome = await deps.clearing.abortTransfer(row.bankId, { transferId: row.authorizationId, reason: VOID_REASON });
      if (outcome.kind === "unknown") throw clearingUnavailable("the void was not booked; try again");
      // Committed or expired in the meantime: book what clearing knows, then answer the state.
      const known = outcome.kind === "refused" && ["TRANSFER_COMMITTED", "TRANSFER_EXPIRED"].includes(outcome.reason)
        ? await deps.clearing.getTransfer(row.bankId, row.authorizationId)
        : outcome;
      if (known.kind === "refused") throw clearingRefusal(known);
      row = await settlePrepared(row, known);
    }
    if (row.state !== "VOIDED") throw stateInvalid(row, "voided", ["AUTHORIZED"]);
    return authorizationMessage(row);
  }

  async function refund(request: RefundCaptureRequest, caller: Caller): Promise<Authorization> {
    requireId("refund_id", request.refundId);
    requireId("transfer_id", request.transferId);
    const amount = requirePositiveMoney("amount", request.amount);
    const row = await authorizationFor(request.authorizationId, caller);
    const previous = await findRefund(deps.store, "refund_id", request.refundId);
    if (previous) {
      requireSameRequest("refund_id", request.refundId, [
        ["authorization_id", previous.authorizationId, row.authorizationId], ["transfer_id", previous.transferId, request.transferId],
        ["amount.amount_minor", previous.amountMinor, amount.amountMinor],
      ]);
      return authorizationMessage(row);
    }
    if (amount.currency !== row.currency) throw new BankError("CURRENCY_MISMATCH", `the authorization is in ${row.currency}`, { field: "amount.currency" });
    if (row.state !== "CAPTURED") throw stateInvalid(row, "refunded", ["CAPTURED"]);
    if (await claimBookedRefund(row, request.transferId, request.refundId, amount.amountMinor)) return authorizationMessage(await reread(row.authorizationId));
    if (row.refundedMinor + amount.amountMinor > row.capturedMinor) throw refundAbove(row);
    const outcome = await deps.clearing.getTransfer(row.bankId, request.transferId);
    if (outcome.kind === "unknown") throw clearingUnavailable("the refund was not booked; try again");
    if (outcome.kind === "refused") throw new BankError("REFUND_TRANSFER_MISMATCH", "clearing shows the bank no such transfer", { field: "transfer_id" });
    const mismatch = refundTransferMismatch(row, outcome.transfer, amount);
    if (mismatch) throw new BankError("REFUND_TRANSFER_MISMATCH", `the transfer does not carry this refund (${mismatch})`, { field: mismatch });
    const booked = await deps.store.transaction((tx) => applyRefund(tx, row, { transferId: request.transferId, refundId: request.refundId, amountMinor: amount.amountMinor }, deps.now(), deps.logger));
    if (booked === "above") throw refundAbove(row);
    if (booked === "duplicate" && !(await claimBookedRefund(row, request.transferId, request.refundId, amount.amountMinor))) {
      throw new BankError("REFUND_TRANSFER_MISMATCH", "the transfer already carried another refund", { field: "transfer_id" });
    }
    return authorizationMessage(await reread(row.authorizationId));
  }

  /**
   * A refund transfer the transfer.committed consumer booked before this RefundCapture arrived:
   * the refund takes it over (true); false when there is none; REFUND_TRANSFER_MISMATCH when
   * the transfer carried a different refund.
   */
  async function claimBookedRefund(row: AuthorizationRow, transferId: string, refundId: string, amountMinor: bigint): Promise<boolean> {
    const booked = await findRefund(deps.store, "transfer_id", transferId);
    if (!booked) return false;
    if (booked.refundId !== null || booked.authorizationId !== row.authorizationId || booked.amountMinor !== amountMinor) {
      throw new BankError("REFUND_TRANSFER_MISMATCH", "the transfer already carried another refund", { field: "transfer_id" });
    }
    const claimed = await deps.store.transaction((tx) => claimRefund(tx, transferId, refundId));
    if (!claimed) {
      const again = await findRefund(deps.store, "refund_id", refundId);
      if (again?.transferId !== transferId) throw new BankError("REFUND_TRANSFER_MISMATCH", "the transfer already carried another refund", { field: "transfer_id" });
    }
    return true;
  }

  return { authorize, capture, void: voidAuthorization, refund, resolve };
}

function refundAbove(row: AuthorizationRow): BankError {
  return new BankError("REFUND_ABOVE_CAPTURE", `refunds may total at most the captured ${row.capturedMinor}; ${row.refundedMinor} refunded so far`, { field: "amount.amount_minor" });
}

function stateInvalid(row: AuthorizationRow, action: string, allowed: readonly AuthorizationStateText[]): BankError {
  return new BankError("AUTHORIZATION_STATE_INVALID", `the authorization is ${row.state}; only ${allowed.join(" or ")} can be ${action}`,
    { field: "authorization_id", state: row.state, allowed: allowed.join(",") });
}

/** The field in which a transfer fails to be this refund, or undefined when it is it. */
export function refundTransferMismatch(row: AuthorizationRow, transfer: Transfer, amount: Amount): string | undefined {
  if (transfer.state !== TransferState.COMMITTED) return "state";
  if (transfer.payerId !== row.acquirerId) return "payer_id";
  if (transfer.payeeId !== row.bankId) return "payee_id";
  if (transfer.amount?.currency !== amount.currency) return "amount.currency";
  if (transfer.amount.amountMinor !== amount.amountMinor) return "amount.amount_minor";
  if (transfer.payeeReference !== row.authorizationId) return "payee_reference";
  return undefined;
}

/** The clearing transfer of an authorization: the same request every time (idempotent at clearing). */
function prepareRequest(row: AuthorizationRow) {
  return {
    transferId: row.authorizationId, payerId: row.bankId, payeeId: row.acquirerId, amount: { currency: row.currency, amountMinor: row.amountMinor },
    payerReference: row.accountId, payeeReference: row.merchantReference, expiresAt: timestampFromMs(row.expiresAtMs),
  };
}

/**
 * Books the state of an open authorization's clearing transfer: RESERVED → AUTHORIZED,
 * COMMITTED → captured, ABORTED → VOIDED, EXPIRED → EXPIRED. Shared by the RPCs, the sweeper and
 * the transfer consumers; each step is conditional on an open state, so it happens once.
 */
export async function applyTransferState(tx: Transaction, row: AuthorizationRow, transfer: Transfer, nowMs: number, logger: Logger): Promise<void> {
  switch (transfer.state) {
    case TransferState.RESERVED:
      await markAuthorized(tx, row.authorizationId, nowMs);
      return;
    case TransferState.COMMITTED:
      await applyCapture(tx, row, transfer, nowMs, logger);
      return;
    case TransferState.ABORTED:
      await applyEnded(tx, row, "VOIDED", nowMs, logger);
      return;
    case TransferState.EXPIRED:
      await applyEnded(tx, row, "EXPIRED", nowMs, logger);
      return;
    default:
      logger.error({ authorizationId: row.authorizationId, state: transfer.state }, "clearing answered a transfer state the bank does not know");
  }
}

/** Open → CAPTURED: the committed amount is debited and the rest of the hold released. */
export async function applyCapture(tx: Transaction, row: AuthorizationRow, transfer: Transfer, nowMs: number, logger: Logger): Promise<boolean> {
  const committed = transfer.amount?.amountMinor ?? 0n;
  const matches = transfer.payerId === row.bankId && transfer.payeeId === row.acquirerId && transfer.amount?.currency === row.currency
    && committed > 0n && committed <= row.amountMinor;
  if (!matches) {
    logger.error({ authorizationId: row.authorizationId }, "a committed transfer does not match its authorization; not booked");
    return false;
  }
  if (!(await markCaptured(tx, row.authorizationId, committed, nowMs))) return false;
  // An open authorization holds exactly its amount (repository.ts).
  await debitHeld(tx, {
    accountId: row.accountId, postingKey: `debit:${row.authorizationId}`, kind: "CARD_CAPTURE", amountMinor: committed,
    endToEndId: row.authorizationId, nowMs,
  }, row.amountMinor);
  logger.info({ authorizationId: row.authorizationId, capturedMinor: String(committed), releasedMinor: String(row.amountMinor - committed) }, "card capture booked");
  return true;
}

/** Open → VOIDED or EXPIRED: the hold is released. */
export async function applyEnded(tx: Transaction, row: AuthorizationRow, state: "VOIDED" | "EXPIRED", nowMs: number, logger: Logger): Promise<boolean> {
  if (!(await markEnded(tx, row.authorizationId, state, nowMs))) return false;
  await releaseHold(tx, row.accountId, row.amountMinor);
  logger.info({ authorizationId: row.authorizationId, state }, "authorization ended; hold released");
  return true;
}

/**
 * Books a refund transfer on a captured authorization: within the captured amount, once per
 * transfer. "above" and "duplicate" change nothing.
 */
export async function applyRefund(tx: Transaction, row: AuthorizationRow, refund: { transferId: string; refundId: string | null; amountMinor: bigint }, nowMs: number, logger: Logger): Promise<"booked" | "above" | "duplicate"> {
  if (await findRefund(tx, "transfer_id", refund.transferId)) return "duplicate";
  if (!(await addRefunded(tx, row.authorizationId, refund.amountMinor, nowMs))) return "above";
  await insertRefund(tx, { ...refund, authorizationId: row.authorizationId }, nowMs);
  const outcome = await credit(tx, {
    accountId: row.accountId, postingKey: `credit:${refund.transferId}`, kind: "CARD_REFUND", amountMinor: refund.amountMinor,
    endToEndId: refund.transferId, nowMs,
  });
  if (outcome.kind !== "booked") throw new Error(`refund transfer ${refund.transferId} could not be credited (${outcome.kind})`);
  logger.info({ authorizationId: row.authorizationId, transferId: refund.transferId, amountMinor: String(refund.amountMinor) }, "card refund credited");
  return "booked";
}

const AUTHORIZATION_STATES: Record<AuthorizationStateText, AuthorizationState> = {
  PREPARING: AuthorizationState.UNSPECIFIED,
  AUTHORIZED: AuthorizationState.AUTHORIZED,
  CAPTURED: AuthorizationState.CAPTURED,
  VOIDED: AuthorizationState.VOIDED,
  EXPIRED: AuthorizationState.EXPIRED,
  REFUSED: AuthorizationState.UNSPECIFIED,
};

export function authorizationMessage(row: AuthorizationRow): Authorization {
  const money = (amountMinor: bigint) => ({ currency: row.currency, amountMinor });
  return create(AuthorizationSchema, {
    authorizationId: row.authorizationId, maskedPan: row.maskedPan, amount: money(row.amountMinor), captured: money(row.capturedMinor),
    refunded: money(row.refundedMinor), state: AUTHORIZATION_STATES[row.state], acquirerId: row.acquirerId, bankId: row.bankId,
    expiresAt: timestampFromMs(row.expiresAtMs),
  });
}

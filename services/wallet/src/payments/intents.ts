// PayPaymentIntent (ARCHITECTURE.md "The path of one payment"): read the intent at the
// e-commerce connector (amount, acquirer), hold the amount, prepare a transfer at clearing from
// the provider to the acquirer (payer_reference = the movement id, so a refund names it), then
// ConfirmPaymentIntent with that transfer, signed as the provider. The connector commits as the
// payee; the hold becomes a debit of what was committed (a manual capture may commit part: the
// rest is released), whether the wallet learns it from clearing's committed event (which the
// call waits for briefly: bookings.ts), clearing's answer to GetTransfer, or the reconciler. An
// intent is paid at most once per provider: a unique index allows one movement of kind `payment`
// per intent that has not failed, so paying it again answers that payment.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { PaymentIntentState, TransferState, type PayPaymentIntentRequest, type WalletTransaction } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import { newUlid } from "@clearmesh/bus";
import type { Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { placeHold, releaseHold, userAccountId } from "../books/ledger.js";
import { WalletError } from "../errors.js";
import type { Notifier } from "../notifications/notify.js";
import { sealPersonal } from "../users/personal.js";
import { loadUserKey } from "../users/repository.js";
import type { Session } from "../users/service.js";
import { requireId } from "../validation.js";
import type { TransferBookings } from "./bookings.js";
import type { ClearingGateway } from "./clearing.js";
import {
  completeOutgoing, failOutgoing, findMovement, findMovementByRequest, insertMovement, refusalOf, repeatOf, transactionView, type MovementRow, type NewMovement,
} from "./movements.js";
import type { CommerceGateway } from "./partners.js";

export interface IntentPaymentDeps {
  store: Store;
  dataKeys: DataKeyRing;
  clearing: ClearingGateway;
  commerce: CommerceGateway;
  notifier: Notifier;
  holdTimeoutMs: number;
  paymentTransferTtlMs: number;
  now: () => number;
  logger: Logger;
  wake: () => void;
  /** Committed events booked by this process's consumer (events.ts). */
  bookings: TransferBookings;
}

/**
 * How long a paid intent's call waits, after the connector answered SUCCEEDED, for this
 * process's consumer to book clearing's committed event before it reads the transfer at
 * clearing itself. The event usually arrives before the connector's answer or within a few
 * milliseconds of it.
 */
export const COMMITTED_EVENT_WAIT_MS = 1_000;

export type IntentPaymentService = ReturnType<typeof createIntentPaymentService>;

export function createIntentPaymentService(deps: IntentPaymentDeps) {
  async function pay(session: Session, request: PayPaymentIntentRequest): Promise<WalletTransaction> {
    const requestId = requireId("request_id", request.requestId);
    const intentId = requireId("payment_intent_id", request.paymentIntentId);
    const fingerprint = JSON.stringify({ payment_intent_id: intentId });
    const key = await loadUserKey(deps.store, deps.dataKeys, session.userId);
    if (!key) throw new WalletError("UNAUTHENTICATED", "authentication failed");
    const existing = await findMovementByRequest(deps.store, session.userId, requestId);
    if (existing) return transactionView(repeatOf(existing, fingerprint), key);
    const paid = await activePaymentOf(session.providerId, intentId);
    if (paid) return onePayment(session, paid, key);
    const read = await deps.commerce.getPaymentIntent(session.providerId, intentId);
    if (read.kind === "unknown") throw new WalletError("CONNECTOR_UNAVAILABLE", "the e-commerce connector did not answer; try again");
    if (read.kind === "refused") throw new WalletError("INTENT_NOT_FOUND", "no such payment intent awaits payment", { field: "payment_intent_id", connector_reason: read.reason });
    const intent = read.value;
    if (intent.state !== PaymentIntentState.REQUIRES_PAYMENT_METHOD || !intent.amount || intent.acquirerId === "") {
      throw new WalletError("INTENT_NOT_PAYABLE", "the payment intent does not await payment", { state: PaymentIntentState[intent.state] ?? String(intent.state) });
    }
    const amount = { currency: intent.amount.currency, amountMinor: intent.amount.amountMinor };
    const movementId = `mv_${newUlid()}`;
    const nowMs = deps.now();
    const movement: NewMovement = {
      movementId, providerId: session.providerId, userId: session.userId, kind: "payment", state: "pending", currency: amount.currency, amountMinor: amount.amountMinor,
      counterpartySealed: sealPersonal(key, intent.merchantId), counterpartyProviderId: intent.acquirerId, requestId, fingerprint, transferId: movementId,
      reference: intentId, counterpartyName: intent.merchantId, merchantReference: intent.merchantReference, nowMs, nextCheckAtMs: nowMs + deps.holdTimeoutMs,
    };
    // The movement and its hold, or nothing: refusals are answers, not errors, so this
    // transaction may share its commit with others (packages/store groupCommitting).
    const held = await deps.store.transaction(async (tx): Promise<"held" | "insufficient" | "exists"> => {
      const accountId = userAccountId(session.userId, amount.currency);
      if (!(await placeHold(tx, accountId, amount.amountMinor))) return "insufficient";
      if (await insertMovement(tx, movement)) return "held";
      // A repeat of the request, or the intent paid meanwhile: the hold goes again with it.
      await releaseHold(tx, accountId, amount.amountMinor);
      return "exists";
    });
    if (held !== "held") {
      const mine = await findMovementByRequest(deps.store, session.userId, requestId);
      if (mine) return transactionView(repeatOf(mine, fingerprint), key);
      const racing = await activePaymentOf(session.providerId, intentId);
      if (racing) return onePayment(session, racing, key);
      if (held === "insufficient") throw new WalletError("INSUFFICIENT_FUNDS", "the available balance does not cover the amount", { field: "payment_intent_id" });
      throw new WalletError("INTENT_NOT_PAYABLE", "the payment intent is being paid; try again");
    }
    await prepareAndConfirm(pendingRow(movement), intentId);
    const outcome = (await findMovement(deps.store, movementId))!;
    deps.logger.debug({ movementId, paymentIntentId: intentId, acquirerId: intent.acquirerId, state: outcome.state }, "payment intent paid");
    if (outcome.state === "failed") throw refusalOf(outcome);
    return transactionView(outcome, key);
  }

  /** Paying an intent again answers the one payment, to its payer; others learn it is paid. */
  function onePayment(session: Session, movement: MovementRow, key: DataKeyRing): WalletTransaction {
    if (movement.user_id !== session.userId) throw new WalletError("INTENT_NOT_PAYABLE", "the payment intent is already paid", { field: "payment_intent_id" });
    return transactionView(movement, key);
  }

  async function activePaymentOf(providerId: string, intentId: string): Promise<MovementRow | undefined> {
    const [row] = await deps.store.query<MovementRow>("SELECT * FROM movements WHERE provider_id = $1 AND kind = 'payment' AND reference = $2 AND state <> 'failed'", [providerId, intentId]);
    return row;
  }

  async function prepareAndConfirm(movement: MovementRow, intentId: string): Promise<void> {
    const providerId = movement.provider_id;
    const transferId = movement.transfer_id!;
    const prepared = await deps.clearing.prepareTransfer(providerId, {
      transferId, payerId: providerId, payeeId: movement.counterparty_provider_id, amount: { currency: movement.currency, amountMinor: movement.amount_minor },
      payerReference: movement.movement_id, payeeReference: intentId, expiresAt: timestampFromMs(deps.now() + deps.paymentTransferTtlMs),
    });
    if (prepared.kind === "refused") return fail(movement, prepared.reason, prepared.message);
    if (prepared.kind === "unknown") return;
    // Listening before the confirmation, which commits: the committed event may be booked before its answer arrives.
    const booking = deps.bookings.expect(transferId);
    try {
      const confirmed = await deps.commerce.confirmPaymentIntent(providerId, {
        paymentIntentId: intentId, paymentMethod: { case: "wallet", value: { providerId, transferId } },
      });
      if (confirmed.kind === "refused") {
        // Nothing was committed: take the reservation back (or let it expire), then release.
        await deps.clearing.abortTransfer(providerId, { transferId, reason: `the connector refused: ${confirmed.reason}` });
        return fail(movement, "CONNECTOR_REFUSED", `${confirmed.reason}: ${confirmed.message}`);
      }
      if (confirmed.kind === "unknown" || confirmed.value.state !== PaymentIntentState.SUCCEEDED) return;
      // Clearing's own word books the debit: its committed event, booked by this process's
      // consumer in the transaction that records the event, or else its answer to GetTransfer.
      if (await booking.booked(COMMITTED_EVENT_WAIT_MS)) return;
      if ((await findMovement(deps.store, movement.movement_id))?.state !== "pending") return;
      const transfer = await deps.clearing.getTransfer(providerId, transferId);
      if (transfer.kind !== "ok" || transfer.value.state !== TransferState.COMMITTED) return;
      await deps.store.transaction(async (tx) => {
        const current = (await findMovement(tx, movement.movement_id))!;
        await completeOutgoing(tx, deps.notifier, current, { feeMinor: transfer.value.fee?.amountMinor ?? 0n, committedMinor: transfer.value.amount?.amountMinor }, {}, deps.now());
      });
      deps.wake();
    } finally {
      booking.cancel();
    }
  }

  async function fail(movement: MovementRow, reason: string, message: string): Promise<void> {
    await deps.store.transaction(async (tx) => {
      const current = (await findMovement(tx, movement.movement_id))!;
      await failOutgoing(tx, deps.notifier, current, reason, message, deps.now());
    });
    deps.wake();
  }

  /**
   * The reconciler's first question for a pending payment: does the connector still hold it
   * legitimately (waiting for a manual capture, or finishing its own commit)? Then it waits;
   * the transfer's expiry bounds the wait. Otherwise clearing's record decides.
   */
  async function connectorStillDeciding(movement: MovementRow): Promise<boolean> {
    if (!movement.reference) return false;
    const read = await deps.commerce.getPaymentIntent(movement.provider_id, movement.reference);
    if (read.kind === "unknown") return true;
    if (read.kind === "refused") return false;
    const intent = read.value;
    return intent.transferId === movement.transfer_id && (intent.state === PaymentIntentState.REQUIRES_CAPTURE || intent.state === PaymentIntentState.PROCESSING);
  }

  return { pay, connectorStillDeciding };
}

/** The row just inserted for `movement` (pending, nothing booked yet), without reading it back. */
function pendingRow(movement: NewMovement): MovementRow {
  return {
    movement_id: movement.movementId, provider_id: movement.providerId, user_id: movement.userId, kind: movement.kind, state: "pending",
    currency: movement.currency, amount_minor: movement.amountMinor, fee_minor: movement.feeMinor ?? 0n, counterparty_sealed: movement.counterpartySealed,
    counterparty_provider_id: movement.counterpartyProviderId, request_id: movement.requestId ?? null, fingerprint: movement.fingerprint ?? null,
    transfer_id: movement.transferId ?? null, quote_id: movement.quoteId ?? null, reference: movement.reference ?? null,
    counterparty_name: movement.counterpartyName ?? "", merchant_reference: movement.merchantReference ?? "", failure_reason: "", failure_message: "",
    created_at_ms: BigInt(movement.nowMs), completed_at_ms: null, next_check_at_ms: BigInt(movement.nextCheckAtMs ?? 0),
  };
}

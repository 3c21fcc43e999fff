// Refunds: the acquirer pays the money back through clearing (a push transfer to the original
// payer, carrying the reference the payer needs to credit its customer), then a card's bank
// records the refund. The amount is reserved on the intent first, in SQL, so refunds together
// never exceed what was captured; a refused transfer gives the reservation back.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { PaymentIntentState, RefundSchema, RefundState, TransferState, type Refund, type RefundPaymentIntentRequest } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Queryable, Store } from "@clearmesh/store";
import { CommerceFailure } from "../errors.js";
import { classifyUpstream, type CardGateway, type ClearingGateway } from "../gateways.js";
import type { IntentChangeWriter } from "../intents/changes.js";
import { money, refundAboveCaptured, refundAmount, requireState, stateFailure, type IntentRecord } from "../intents/model.js";
import { findIntent, releaseRefund, reserveRefund } from "../intents/repository.js";
import type { MerchantRecord } from "../merchants/registry.js";
import { MAX_REASON_CHARS, requireId, requireText } from "../validation.js";

const { SUCCEEDED } = PaymentIntentState;

export interface RefundRecord {
  refundId: string;
  paymentIntentId: string;
  merchantId: string;
  currency: string;
  amountMinor: bigint;
  /** The amount the request asked for; -1 when it asked for all that was left. */
  requestedMinor: bigint;
  reason: string;
  state: RefundState;
  transferId: string;
  failureReason: string;
  attempts: number;
  createdAtMs: number;
  updatedAtMs: number;
  touchedAtMs: number;
}

interface RefundRow {
  refund_id: string; payment_intent_id: string; merchant_id: string; currency: string; amount_minor: bigint; requested_minor: bigint;
  reason: string; state: bigint; transfer_id: string; failure_reason: string; attempts: bigint; created_at_ms: bigint; updated_at_ms: bigint; touched_at_ms: bigint;
  [column: string]: unknown;
}

function refundFromRow(row: RefundRow): RefundRecord {
  return {
    refundId: row.refund_id, paymentIntentId: row.payment_intent_id, merchantId: row.merchant_id, currency: row.currency,
    amountMinor: BigInt(row.amount_minor), requestedMinor: BigInt(row.requested_minor), reason: row.reason, state: Number(row.state) as RefundState,
    transferId: row.transfer_id, failureReason: row.failure_reason, attempts: Number(row.attempts),
    createdAtMs: Number(row.created_at_ms), updatedAtMs: Number(row.updated_at_ms), touchedAtMs: Number(row.touched_at_ms),
  };
}

export function refundMessage(refund: RefundRecord): Refund {
  return create(RefundSchema, {
    refundId: refund.refundId, paymentIntentId: refund.paymentIntentId, amount: money(refund.currency, refund.amountMinor), state: refund.state,
    transferId: refund.transferId, createdAt: timestampFromMs(refund.createdAtMs), failureReason: refund.failureReason,
  });
}

async function findRefund(db: Queryable, refundId: string): Promise<RefundRecord | undefined> {
  const [row] = await db.query<RefundRow>("SELECT * FROM refunds WHERE refund_id = $1", [refundId]);
  return row ? refundFromRow(row) : undefined;
}

export async function staleRefunds(db: Queryable, cutoffMs: number, maxAttempts: number, limit: number): Promise<RefundRecord[]> {
  const rows = await db.query<RefundRow>(
    "SELECT * FROM refunds WHERE state = $1 AND touched_at_ms <= $2 AND attempts < $3 ORDER BY touched_at_ms LIMIT $4",
    [RefundState.PENDING, BigInt(cutoffMs), maxAttempts, limit],
  );
  return rows.map(refundFromRow);
}

/** Claims a stale PENDING refund for one more attempt (one instance wins). */
export async function claimRefund(db: Queryable, refund: RefundRecord, nowMs: number): Promise<boolean> {
  const { changes } = await db.execute(
    "UPDATE refunds SET touched_at_ms = $2, attempts = attempts + 1 WHERE refund_id = $1 AND state = $3 AND touched_at_ms = $4",
    [refund.refundId, BigInt(nowMs), RefundState.PENDING, BigInt(refund.touchedAtMs)],
  );
  return changes === 1;
}

export interface RefundServiceDeps {
  store: Store;
  changes: IntentChangeWriter;
  clearing: ClearingGateway;
  cards: CardGateway;
  now: () => number;
  newId: () => string;
  wakeWebhooks: () => void;
  logger: Logger;
}

export type RefundService = ReturnType<typeof createRefundService>;

export function createRefundService(deps: RefundServiceDeps) {
  /** PENDING → SUCCEEDED or FAILED with its webhook, and on failure the reservation given back; in one transaction. */
  async function finish(refund: RefundRecord, state: RefundState.SUCCEEDED | RefundState.FAILED, failureReason: string): Promise<RefundRecord> {
    const finished = await deps.store.transaction(async (tx) => {
      const [row] = await tx.query<RefundRow>(
        "UPDATE refunds SET state = $2, failure_reason = $3, updated_at_ms = $4, touched_at_ms = $4 WHERE refund_id = $1 AND state = $5 RETURNING *",
        [refund.refundId, state, failureReason, BigInt(deps.now()), RefundState.PENDING],
      );
      if (!row) return undefined;
      if (state === RefundState.FAILED) await releaseRefund(tx, refund.paymentIntentId, refund.amountMinor);
      const record = refundFromRow(row);
      const intent = (await findIntent(tx, refund.paymentIntentId))!;
      await deps.changes.writeEvent(tx, intent, state === RefundState.SUCCEEDED ? "refund.succeeded" : "refund.failed", refundMessage(record));
      return record;
    });
    if (finished) deps.wakeWebhooks();
    return finished ?? (await findRefund(deps.store, refund.refundId))!;
  }

  /**
   * Pays the refund back through clearing and records it at the card's bank. Both calls are
   * idempotent (transfer id, refund id), so the sweeper runs this again for a refund left PENDING.
   */
  async function execute(refund: RefundRecord, intent: IntentRecord): Promise<RefundRecord> {
    const isCard = intent.paymentMethodType === "card";
    try {
      const transfer = await deps.clearing.createTransfer(intent.acquirerId, {
        transferId: refund.transferId, payeeId: intent.payerId, amount: money(refund.currency, refund.amountMinor),
        payerReference: refund.refundId, payeeReference: isCard ? intent.transferId : intent.payerReference,
      });
      if (transfer.state !== TransferState.COMMITTED) throw new Error(`refund transfer ${refund.transferId} is ${transfer.state}`);
    } catch (error) {
      const failure = classifyUpstream(error);
      if (failure.kind === "unknown") return refund;
      return finish(refund, RefundState.FAILED, `clearing refused the refund transfer (${failure.reason}): ${failure.message}`);
    }
    if (isCard) {
      try {
        await deps.cards.refund(intent.acquirerId, { refundId: refund.refundId, authorizationId: intent.transferId, amount: money(refund.currency, refund.amountMinor), transferId: refund.transferId });
      } catch (error) {
        // The money is back at the bank through clearing; only the bank's booking is missing.
        deps.logger.warn({ refundId: refund.refundId, err: classifyUpstream(error).message }, "bank refund not recorded; the sweeper retries it");
        return refund;
      }
    }
    return finish(refund, RefundState.SUCCEEDED, "");
  }

  return {
    async refund(request: RefundPaymentIntentRequest, merchant: MerchantRecord): Promise<Refund> {
      const refundId = requireId("refund_id", request.refundId);
      const intent = await findIntent(deps.store, requireId("payment_intent_id", request.paymentIntentId));
      if (!intent || intent.merchantId !== merchant.merchantId) {
        throw new CommerceFailure("INTENT_NOT_FOUND", `no payment intent ${request.paymentIntentId} visible to the caller`, { payment_intent_id: request.paymentIntentId });
      }
      const reason = requireText("reason", request.reason, MAX_REASON_CHARS);
      const requestedMinor = request.amount ? request.amount.amountMinor : -1n;
      const existing = await findRefund(deps.store, refundId);
      if (existing) return refundMessage(answerRepeat(existing, intent.paymentIntentId, requestedMinor, reason));
      requireState(intent, "refund");
      const amountMinor = refundAmount(intent, request.amount);
      const created = await reserveAndRecord({
        refundId, paymentIntentId: intent.paymentIntentId, merchantId: merchant.merchantId, currency: intent.currency, amountMinor, requestedMinor,
        reason, state: RefundState.PENDING, transferId: deps.newId(), failureReason: "", attempts: 0,
        createdAtMs: deps.now(), updatedAtMs: deps.now(), touchedAtMs: deps.now(),
      });
      if (!created.fresh) return refundMessage(created.refund);
      return refundMessage(await execute(created.refund, intent));
    },

    /** The sweeper: one more attempt at a refund left PENDING. */
    async resume(refund: RefundRecord): Promise<RefundRecord> {
      const intent = await findIntent(deps.store, refund.paymentIntentId);
      if (!intent) throw new Error(`refund ${refund.refundId} of a missing intent`);
      return execute(refund, intent);
    },
  };

  /** Reserves the amount on the intent and records the refund PENDING, in one transaction. */
  async function reserveAndRecord(refund: RefundRecord): Promise<{ refund: RefundRecord; fresh: boolean }> {
    let raced: RefundRecord | undefined;
    await deps.store.transaction(async (tx) => {
      raced = await findRefund(tx, refund.refundId);
      if (raced) return;
      if (!(await reserveRefund(tx, refund.paymentIntentId, SUCCEEDED, refund.amountMinor))) {
        const latest = (await findIntent(tx, refund.paymentIntentId))!;
        throw latest.state !== SUCCEEDED ? stateFailure(latest, "refund") : refundAboveCaptured(latest, refund.amountMinor);
      }
      await tx.execute(
        `INSERT INTO refunds (refund_id, payment_intent_id, merchant_id, currency, amount_minor, requested_minor, reason, state, transfer_id,
           failure_reason, attempts, created_at_ms, updated_at_ms, touched_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', 0, $10, $10, $10)`,
        [refund.refundId, refund.paymentIntentId, refund.merchantId, refund.currency, refund.amountMinor, refund.requestedMinor, refund.reason,
          refund.state, refund.transferId, BigInt(refund.createdAtMs)],
      );
    });
    if (raced) return { refund: answerRepeat(raced, refund.paymentIntentId, refund.requestedMinor, refund.reason), fresh: false };
    return { refund, fresh: true };
  }
}

/** The same refund id: the refund as it is now, or IDEMPOTENCY_CONFLICT naming the first differing field. */
function answerRepeat(existing: RefundRecord, paymentIntentId: string, requestedMinor: bigint, reason: string): RefundRecord {
  const field = existing.paymentIntentId !== paymentIntentId ? "payment_intent_id"
    : existing.requestedMinor !== requestedMinor ? "amount.amount_minor"
      : existing.reason !== reason ? "reason" : undefined;
  if (field) throw new CommerceFailure("IDEMPOTENCY_CONFLICT", `refund ${existing.refundId} was made with a different ${field}`, { field });
  return existing;
}

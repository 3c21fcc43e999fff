// Payment intents in SQL. Every change is one conditional UPDATE … WHERE state = $expected
// (several instances may share one PostgreSQL), never a read-modify-write in JavaScript.
import type { CaptureMethod, PaymentIntentState } from "@clearmesh/contracts";
import type { Queryable, SqlValue } from "@clearmesh/store";
import type { Followup, IntentRecord, PaymentMethodType, ProcessingStep } from "./model.js";

interface IntentRow {
  payment_intent_id: string;
  merchant_id: string;
  acquirer_id: string;
  currency: string;
  amount_minor: bigint;
  state: bigint;
  capture_method: bigint;
  merchant_reference: string;
  description: string;
  metadata: string;
  payment_method_type: string;
  payment_method_detail: string;
  payment_method_key: string;
  payer_id: string;
  payer_reference: string;
  transfer_id: string;
  captured_minor: bigint;
  refunded_minor: bigint;
  capture_minor: bigint;
  step: string;
  failure_reason: string;
  followup: string;
  followup_attempts: bigint;
  created_at_ms: bigint;
  updated_at_ms: bigint;
  touched_at_ms: bigint;
  [column: string]: unknown;
}

/** Columns a transition may set, with their SQL names; nothing else is ever written by name. */
const COLUMNS = {
  paymentMethodType: "payment_method_type",
  paymentMethodDetail: "payment_method_detail",
  paymentMethodKey: "payment_method_key",
  payerId: "payer_id",
  payerReference: "payer_reference",
  transferId: "transfer_id",
  capturedMinor: "captured_minor",
  captureMinor: "capture_minor",
  step: "step",
  failureReason: "failure_reason",
  followup: "followup",
  followupAttempts: "followup_attempts",
} as const satisfies Partial<Record<keyof IntentRecord, string>>;

export type IntentChanges = Partial<Pick<IntentRecord, keyof typeof COLUMNS>>;

export function intentFromRow(row: IntentRow): IntentRecord {
  return {
    paymentIntentId: row.payment_intent_id,
    merchantId: row.merchant_id,
    acquirerId: row.acquirer_id,
    currency: row.currency,
    amountMinor: BigInt(row.amount_minor),
    state: Number(row.state) as PaymentIntentState,
    captureMethod: Number(row.capture_method) as CaptureMethod,
    merchantReference: row.merchant_reference,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    paymentMethodType: row.payment_method_type as PaymentMethodType,
    paymentMethodDetail: row.payment_method_detail,
    paymentMethodKey: row.payment_method_key,
    payerId: row.payer_id,
    payerReference: row.payer_reference,
    transferId: row.transfer_id,
    capturedMinor: BigInt(row.captured_minor),
    refundedMinor: BigInt(row.refunded_minor),
    captureMinor: BigInt(row.capture_minor),
    step: row.step as ProcessingStep,
    failureReason: row.failure_reason,
    followup: row.followup as Followup,
    followupAttempts: Number(row.followup_attempts),
    createdAtMs: Number(row.created_at_ms),
    updatedAtMs: Number(row.updated_at_ms),
    touchedAtMs: Number(row.touched_at_ms),
  };
}

/** Inserts a new intent unless the id exists; returns whether it was inserted. */
export async function insertIntent(db: Queryable, intent: IntentRecord): Promise<boolean> {
  const { changes } = await db.execute(
    `INSERT INTO payment_intents (payment_intent_id, merchant_id, acquirer_id, currency, amount_minor, state, capture_method,
       merchant_reference, description, metadata, payment_method_type, payment_method_detail, payment_method_key, payer_id,
       payer_reference, transfer_id, captured_minor, refunded_minor, capture_minor, step, failure_reason, followup,
       followup_attempts, created_at_ms, updated_at_ms, touched_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '', '', '', '', '', '', 0, 0, 0, '', '', '', 0, $11, $11, $11)
     ON CONFLICT (payment_intent_id) DO NOTHING`,
    [intent.paymentIntentId, intent.merchantId, intent.acquirerId, intent.currency, intent.amountMinor, intent.state, intent.captureMethod,
      intent.merchantReference, intent.description, JSON.stringify(intent.metadata), BigInt(intent.createdAtMs)],
  );
  return changes === 1;
}

export async function findIntent(db: Queryable, paymentIntentId: string): Promise<IntentRecord | undefined> {
  const [row] = await db.query<IntentRow>("SELECT * FROM payment_intents WHERE payment_intent_id = $1", [paymentIntentId]);
  return row ? intentFromRow(row) : undefined;
}

/**
 * Moves an intent from `from` to `to` and sets `changes`, only if it is still in `from`;
 * returns the intent as it is now, or undefined when another call changed it first.
 */
export async function transitionIntent(db: Queryable, paymentIntentId: string, from: PaymentIntentState, to: PaymentIntentState, changes: IntentChanges, nowMs: number): Promise<IntentRecord | undefined> {
  const assignments: string[] = [];
  const params: SqlValue[] = [paymentIntentId, from, to, BigInt(nowMs)];
  for (const [key, column] of Object.entries(COLUMNS) as Array<[keyof IntentChanges, string]>) {
    const value = changes[key];
    if (value === undefined) continue;
    params.push(typeof value === "number" ? BigInt(value) : value);
    assignments.push(`${column} = $${params.length}`);
  }
  // updated_at_ms is when the state last changed, so it moves only with the state.
  const updated = from === to ? "" : "updated_at_ms = $4, ";
  const [row] = await db.query<IntentRow>(
    `UPDATE payment_intents SET state = $3, ${updated}touched_at_ms = $4${assignments.map((entry) => `, ${entry}`).join("")}
     WHERE payment_intent_id = $1 AND state = $2 RETURNING *`,
    params,
  );
  return row ? intentFromRow(row) : undefined;
}

/** Reserves a refund on the intent: refunded += amount, only while it stays within what was captured. */
export async function reserveRefund(db: Queryable, paymentIntentId: string, succeeded: PaymentIntentState, amountMinor: bigint): Promise<boolean> {
  const { changes } = await db.execute(
    `UPDATE payment_intents SET refunded_minor = refunded_minor + $3
     WHERE payment_intent_id = $1 AND state = $2 AND refunded_minor + $3 <= captured_minor`,
    [paymentIntentId, succeeded, amountMinor],
  );
  return changes === 1;
}

/** Gives a failed refund's reservation back. */
export async function releaseRefund(db: Queryable, paymentIntentId: string, amountMinor: bigint): Promise<void> {
  const { changes } = await db.execute(
    "UPDATE payment_intents SET refunded_minor = refunded_minor - $2 WHERE payment_intent_id = $1 AND refunded_minor >= $2",
    [paymentIntentId, amountMinor],
  );
  if (changes !== 1) throw new Error(`refund reservation of ${paymentIntentId} is smaller than ${amountMinor}`);
}

export interface IntentListQuery {
  merchantId: string;
  state: PaymentIntentState | undefined;
  /** The last row of the previous page: created_at_ms and id. */
  after: { createdAtMs: bigint; paymentIntentId: string } | undefined;
  limit: number;
}

/** A merchant's intents, newest first. */
export async function listIntents(db: Queryable, query: IntentListQuery): Promise<IntentRecord[]> {
  const params: SqlValue[] = [query.merchantId, query.limit];
  let where = "merchant_id = $1";
  if (query.state !== undefined) {
    params.push(query.state);
    where += ` AND state = $${params.length}`;
  }
  if (query.after) {
    params.push(query.after.createdAtMs, query.after.paymentIntentId);
    const at = params.length - 1;
    where += ` AND (created_at_ms < $${at} OR (created_at_ms = $${at} AND payment_intent_id < $${at + 1}))`;
  }
  const rows = await db.query<IntentRow>(
    `SELECT * FROM payment_intents WHERE ${where} ORDER BY created_at_ms DESC, payment_intent_id DESC LIMIT $2`,
    params,
  );
  return rows.map(intentFromRow);
}

/** PROCESSING intents nobody touched since `cutoffMs`, oldest first. */
export async function staleIntents(db: Queryable, processing: PaymentIntentState, cutoffMs: number, limit: number): Promise<IntentRecord[]> {
  const rows = await db.query<IntentRow>(
    "SELECT * FROM payment_intents WHERE state = $1 AND touched_at_ms <= $2 ORDER BY touched_at_ms LIMIT $3",
    [processing, BigInt(cutoffMs), limit],
  );
  return rows.map(intentFromRow);
}

/** Claims a stale intent for this sweeper: only one instance wins, and the clock restarts. */
export async function claimStale(db: Queryable, intent: IntentRecord, nowMs: number): Promise<boolean> {
  const { changes } = await db.execute(
    "UPDATE payment_intents SET touched_at_ms = $3 WHERE payment_intent_id = $1 AND state = $2 AND touched_at_ms = $4",
    [intent.paymentIntentId, intent.state, BigInt(nowMs), BigInt(intent.touchedAtMs)],
  );
  return changes === 1;
}

/** Intents with a followup still owed and attempts left. */
export async function pendingFollowups(db: Queryable, maxAttempts: number, limit: number): Promise<IntentRecord[]> {
  const rows = await db.query<IntentRow>(
    "SELECT * FROM payment_intents WHERE followup <> '' AND followup_attempts < $1 ORDER BY touched_at_ms LIMIT $2",
    [maxAttempts, limit],
  );
  return rows.map(intentFromRow);
}

/** Records a followup's outcome, only if it is still the one owed. */
export async function settleFollowup(db: Queryable, paymentIntentId: string, followup: Followup, done: boolean): Promise<void> {
  await db.execute(
    done
      ? "UPDATE payment_intents SET followup = '', followup_attempts = 0 WHERE payment_intent_id = $1 AND followup = $2"
      : "UPDATE payment_intents SET followup_attempts = followup_attempts + 1 WHERE payment_intent_id = $1 AND followup = $2",
    [paymentIntentId, followup],
  );
}

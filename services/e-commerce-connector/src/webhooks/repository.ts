// The webhook outbox in SQL: events are written in the transaction of the change they report;
// the dispatcher claims due deliveries with a lease (conditional UPDATE), so instances sharing
// one PostgreSQL never send the same attempt twice, and a crashed instance's lease just lapses.
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { WebhookDeliveryState, WebhookEventSchema, type PaymentIntent, type Refund } from "@clearmesh/contracts";
import type { Queryable, SqlValue } from "@clearmesh/store";
import { utf8 } from "@clearmesh/trust";

export interface DeliveryRecord {
  webhookId: string;
  merchantId: string;
  type: string;
  paymentIntentId: string;
  body: Uint8Array;
  state: WebhookDeliveryState;
  attemptCount: number;
  /** Attempts since the webhook was created or last retried by hand; WEBHOOK_MAX_ATTEMPTS bounds it. */
  roundAttempts: number;
  nextAttemptAtMs: number;
  createdAtMs: number;
}

export interface AttemptRecord {
  webhookId: string;
  attempt: number;
  attemptedAtMs: number;
  httpStatus: number;
  error: string;
  durationMs: number;
}

interface DeliveryRow {
  webhook_id: string;
  merchant_id: string;
  type: string;
  payment_intent_id: string;
  body: Uint8Array;
  state: bigint;
  attempt_count: bigint;
  round_attempts: bigint;
  next_attempt_at_ms: bigint;
  created_at_ms: bigint;
  [column: string]: unknown;
}

function deliveryFromRow(row: DeliveryRow): DeliveryRecord {
  return {
    webhookId: row.webhook_id,
    merchantId: row.merchant_id,
    type: row.type,
    paymentIntentId: row.payment_intent_id,
    body: new Uint8Array(row.body),
    state: Number(row.state) as WebhookDeliveryState,
    attemptCount: Number(row.attempt_count),
    roundAttempts: Number(row.round_attempts),
    nextAttemptAtMs: Number(row.next_attempt_at_ms),
    createdAtMs: Number(row.created_at_ms),
  };
}

export interface WebhookInput {
  webhookId: string;
  merchantId: string;
  type: string;
  paymentIntent: PaymentIntent;
  refund?: Refund;
  nowMs: number;
}

/**
 * The body is the protobuf JSON of WebhookEvent (PROTOCOL.md §6), fixed here once: every attempt
 * sends, and signs, exactly these bytes.
 */
export function webhookBody(input: WebhookInput): Uint8Array {
  const event = create(WebhookEventSchema, {
    id: input.webhookId, type: input.type, createdAt: timestampFromMs(input.nowMs), paymentIntent: input.paymentIntent, refund: input.refund,
  });
  return utf8(toJsonString(WebhookEventSchema, event));
}

/** A lease taken when a webhook is written: the writing instance sends its first attempt. */
export interface WrittenLease {
  owner: string;
  untilMs: number;
}

/**
 * Writes a webhook into the outbox inside the caller's transaction; due at once. With `lease`
 * it is written already leased to that instance, which attempts it right after the commit
 * (the lease lapses like any other if it never does). Returns the delivery as written.
 */
export async function enqueueWebhook(tx: Queryable, input: WebhookInput, lease?: WrittenLease): Promise<DeliveryRecord> {
  const body = webhookBody(input);
  await tx.execute(
    `INSERT INTO webhook_deliveries (webhook_id, merchant_id, type, payment_intent_id, body, state, attempt_count, round_attempts,
       next_attempt_at_ms, lease_owner, lease_until_ms, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8, $9, $7)`,
    [input.webhookId, input.merchantId, input.type, input.paymentIntent.paymentIntentId, Buffer.from(body), WebhookDeliveryState.PENDING, BigInt(input.nowMs),
      lease?.owner ?? "", BigInt(lease?.untilMs ?? 0)],
  );
  return {
    webhookId: input.webhookId, merchantId: input.merchantId, type: input.type, paymentIntentId: input.paymentIntent.paymentIntentId, body,
    state: WebhookDeliveryState.PENDING, attemptCount: 0, roundAttempts: 0, nextAttemptAtMs: input.nowMs, createdAtMs: input.nowMs,
  };
}

/** Merchants with due, unleased deliveries, the longest waiting first, skipping busy ones. */
export async function merchantsWithDueWork(db: Queryable, nowMs: number, busyMerchants: readonly string[], limit: number): Promise<string[]> {
  const params: SqlValue[] = [WebhookDeliveryState.PENDING, BigInt(nowMs), limit, ...busyMerchants];
  const skip = busyMerchants.length === 0 ? "" : ` AND merchant_id NOT IN (${busyMerchants.map((_, index) => `$${index + 4}`).join(", ")})`;
  const rows = await db.query<{ merchant_id: string }>(
    `SELECT merchant_id, MIN(next_attempt_at_ms) AS due FROM webhook_deliveries
     WHERE state = $1 AND next_attempt_at_ms <= $2 AND lease_until_ms <= $2${skip}
     GROUP BY merchant_id ORDER BY due LIMIT $3`,
    params,
  );
  return rows.map((row) => row.merchant_id);
}

/** One merchant's due deliveries, oldest first. */
export async function dueDeliveries(db: Queryable, merchantId: string, nowMs: number, limit: number): Promise<string[]> {
  const rows = await db.query<{ webhook_id: string }>(
    `SELECT webhook_id FROM webhook_deliveries
     WHERE merchant_id = $1 AND state = $2 AND next_attempt_at_ms <= $3 AND lease_until_ms <= $3
     ORDER BY next_attempt_at_ms, webhook_id LIMIT $4`,
    [merchantId, WebhookDeliveryState.PENDING, BigInt(nowMs), limit],
  );
  return rows.map((row) => row.webhook_id);
}

/** Takes a delivery for one attempt until `leaseUntilMs`; undefined when another instance has it. */
export async function claimDelivery(db: Queryable, webhookId: string, owner: string, nowMs: number, leaseUntilMs: number): Promise<DeliveryRecord | undefined> {
  const [row] = await db.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET lease_owner = $2, lease_until_ms = $4
     WHERE webhook_id = $1 AND state = $5 AND next_attempt_at_ms <= $3 AND lease_until_ms <= $3 RETURNING *`,
    [webhookId, owner, BigInt(nowMs), BigInt(leaseUntilMs), WebhookDeliveryState.PENDING],
  );
  return row ? deliveryFromRow(row) : undefined;
}

/**
 * Takes one merchant's oldest due, unleased delivery for one attempt (the same conditions as
 * claimDelivery, re-checked on the row itself, so two instances never both get it); undefined
 * when it has none.
 */
export async function claimNextDue(db: Queryable, merchantId: string, owner: string, nowMs: number, leaseUntilMs: number): Promise<DeliveryRecord | undefined> {
  const [row] = await db.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET lease_owner = $2, lease_until_ms = $4
     WHERE webhook_id = (
         SELECT webhook_id FROM webhook_deliveries
         WHERE merchant_id = $1 AND state = $5 AND next_attempt_at_ms <= $3 AND lease_until_ms <= $3
         ORDER BY next_attempt_at_ms, webhook_id LIMIT 1)
       AND state = $5 AND next_attempt_at_ms <= $3 AND lease_until_ms <= $3
     RETURNING *`,
    [merchantId, owner, BigInt(nowMs), BigInt(leaseUntilMs), WebhookDeliveryState.PENDING],
  );
  return row ? deliveryFromRow(row) : undefined;
}

/** Hands a lease back without counting an attempt (shutdown interrupted it). */
export async function releaseDelivery(db: Queryable, webhookId: string, owner: string): Promise<void> {
  await db.execute("UPDATE webhook_deliveries SET lease_owner = '', lease_until_ms = 0 WHERE webhook_id = $1 AND lease_owner = $2", [webhookId, owner]);
}

export interface AttemptOutcome {
  attemptedAtMs: number;
  httpStatus: number;
  error: string;
  durationMs: number;
  /** The state after this attempt and, when PENDING, when the next one is due. */
  state: WebhookDeliveryState;
  nextAttemptAtMs: number;
}

/**
 * Records one attempt and the delivery's new state, only while this instance still holds the
 * lease on the round it claimed; returns whether it did.
 */
export async function recordAttempt(db: Queryable, delivery: DeliveryRecord, owner: string, outcome: AttemptOutcome): Promise<boolean> {
  const [row] = await db.query<{ attempt_count: bigint }>(
    `UPDATE webhook_deliveries SET attempt_count = attempt_count + 1, round_attempts = round_attempts + 1, state = $4,
       next_attempt_at_ms = $5, lease_owner = '', lease_until_ms = 0
     WHERE webhook_id = $1 AND lease_owner = $2 AND round_attempts = $3 RETURNING attempt_count`,
    [delivery.webhookId, owner, delivery.roundAttempts, outcome.state, BigInt(outcome.nextAttemptAtMs)],
  );
  if (!row) return false;
  await db.execute(
    "INSERT INTO webhook_attempts (webhook_id, attempt, attempted_at_ms, http_status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    [delivery.webhookId, row.attempt_count, BigInt(outcome.attemptedAtMs), outcome.httpStatus, outcome.error, BigInt(outcome.durationMs)],
  );
  return true;
}

/** RetryWebhook: due now, with a fresh round of attempts. */
export async function scheduleRetry(db: Queryable, webhookId: string, nowMs: number): Promise<boolean> {
  const { changes } = await db.execute(
    "UPDATE webhook_deliveries SET state = $2, round_attempts = 0, next_attempt_at_ms = $3 WHERE webhook_id = $1",
    [webhookId, WebhookDeliveryState.PENDING, BigInt(nowMs)],
  );
  return changes === 1;
}

export async function findDelivery(db: Queryable, webhookId: string): Promise<DeliveryRecord | undefined> {
  const [row] = await db.query<DeliveryRow>("SELECT * FROM webhook_deliveries WHERE webhook_id = $1", [webhookId]);
  return row ? deliveryFromRow(row) : undefined;
}

export interface DeliveryListQuery {
  /** Undefined = every merchant (the operator). */
  merchantId: string | undefined;
  state: WebhookDeliveryState | undefined;
  afterWebhookId: string | undefined;
  limit: number;
}

/** Deliveries newest first (webhook ids are ULIDs, so id order is time order). */
export async function listDeliveries(db: Queryable, query: DeliveryListQuery): Promise<DeliveryRecord[]> {
  const params: SqlValue[] = [query.limit];
  const conditions: string[] = [];
  if (query.merchantId !== undefined) {
    params.push(query.merchantId);
    conditions.push(`merchant_id = $${params.length}`);
  }
  if (query.state !== undefined) {
    params.push(query.state);
    conditions.push(`state = $${params.length}`);
  }
  if (query.afterWebhookId !== undefined) {
    params.push(query.afterWebhookId);
    conditions.push(`webhook_id < $${params.length}`);
  }
  const where = conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`;
  const rows = await db.query<DeliveryRow>(`SELECT * FROM webhook_deliveries ${where} ORDER BY webhook_id DESC LIMIT $1`, params);
  return rows.map(deliveryFromRow);
}

/** The attempts of some deliveries, oldest first per delivery. */
export async function attemptsOf(db: Queryable, webhookIds: readonly string[]): Promise<Map<string, AttemptRecord[]>> {
  const byWebhook = new Map<string, AttemptRecord[]>(webhookIds.map((id) => [id, []]));
  if (webhookIds.length === 0) return byWebhook;
  const rows = await db.query<{ webhook_id: string; attempt: bigint; attempted_at_ms: bigint; http_status: bigint; error: string; duration_ms: bigint }>(
    `SELECT * FROM webhook_attempts WHERE webhook_id IN (${webhookIds.map((_, index) => `$${index + 1}`).join(", ")}) ORDER BY webhook_id, attempt`,
    [...webhookIds],
  );
  for (const row of rows) {
    byWebhook.get(row.webhook_id)?.push({
      webhookId: row.webhook_id, attempt: Number(row.attempt), attemptedAtMs: Number(row.attempted_at_ms),
      httpStatus: Number(row.http_status), error: row.error, durationMs: Number(row.duration_ms),
    });
  }
  return byWebhook;
}

// SQL of the notifier. Every state change is a conditional UPDATE (on the status, or on the
// lease token of the instance that claimed the delivery), so several notifier instances on one
// PostgreSQL never send a delivery twice at once nor overwrite each other's outcome.
import { Channel } from "@clearmesh/contracts";
import type { Queryable, Transaction } from "@clearmesh/store";

export type StoredStatus = "pending" | "sending" | "delivered" | "dead_lettered";
export type StoredChannel = "email" | "sms" | "none";

export const CHANNEL_NAMES: Readonly<Record<Channel, StoredChannel>> = {
  [Channel.UNSPECIFIED]: "none",
  [Channel.EMAIL]: "email",
  [Channel.SMS]: "sms",
};

export function channelOfName(name: string): Channel {
  return name === "email" ? Channel.EMAIL : name === "sms" ? Channel.SMS : Channel.UNSPECIFIED;
}

export interface DeliveryRow {
  seq: bigint;
  notification_id: string;
  channel: StoredChannel;
  producer: string;
  kind: string;
  recipient_hint: string;
  recipient_key: string | null;
  status: StoredStatus;
  attempts: bigint;
  round_start_attempts: bigint;
  rate_exempt: bigint;
  next_attempt_at_ms: bigint | null;
  last_attempt_at_ms: bigint | null;
  last_error: string | null;
  lease_token: string | null;
  retry_request_id: string | null;
  created_at_ms: bigint;
  delivered_at_ms: bigint | null;
}

export interface NotificationRow {
  notification_id: string;
  producer: string;
  kind: string;
  locale: string;
  /** JSON object of plain parameters. */
  parameters: string;
  /** JSON object of sealed parameters, as received. */
  sealed_parameters: string;
}

export interface NewNotification {
  notificationId: string;
  eventId: string;
  producer: string;
  kind: string;
  locale: string;
  parameters: Record<string, string>;
  sealedParameters: Record<string, string>;
  recipientHint: string;
  nowMs: number;
}

/** False when the notification id is already known (the first request wins). */
export async function insertNotification(tx: Transaction, notification: NewNotification): Promise<boolean> {
  const { changes } = await tx.execute(
    `INSERT INTO notifications (notification_id, event_id, producer, kind, locale, parameters, sealed_parameters, recipient_hint, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (notification_id) DO NOTHING`,
    [notification.notificationId, notification.eventId, notification.producer, notification.kind, notification.locale,
      JSON.stringify(notification.parameters), JSON.stringify(notification.sealedParameters), notification.recipientHint, BigInt(notification.nowMs)],
  );
  return changes === 1;
}

export interface NewDelivery {
  notificationId: string;
  channel: StoredChannel;
  producer: string;
  kind: string;
  recipientHint: string;
  rateExempt: boolean;
  /** Pending, due now; or dead-lettered at once with this reason. */
  deadLetterReason?: string;
  nowMs: number;
}

/** At most one delivery per notification id and channel. */
export async function insertDelivery(tx: Transaction, delivery: NewDelivery): Promise<boolean> {
  const dead = delivery.deadLetterReason !== undefined;
  const { changes } = await tx.execute(
    `INSERT INTO deliveries (notification_id, channel, producer, kind, recipient_hint, status, attempts, round_start_attempts, rate_exempt,
       next_attempt_at_ms, last_error, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8, $9, $10) ON CONFLICT (notification_id, channel) DO NOTHING`,
    [delivery.notificationId, delivery.channel, delivery.producer, delivery.kind, delivery.recipientHint, dead ? "dead_lettered" : "pending",
      delivery.rateExempt ? 1n : 0n, dead ? null : BigInt(delivery.nowMs), delivery.deadLetterReason ?? null, BigInt(delivery.nowMs)],
  );
  return changes === 1;
}

export async function findDelivery(db: Queryable, notificationId: string): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow & Record<string, unknown>>("SELECT * FROM deliveries WHERE notification_id = $1 ORDER BY seq LIMIT 1", [notificationId]);
  return row;
}

export async function findNotification(db: Queryable, notificationId: string): Promise<NotificationRow | undefined> {
  const [row] = await db.query<NotificationRow & Record<string, unknown>>(
    "SELECT notification_id, producer, kind, locale, parameters, sealed_parameters FROM notifications WHERE notification_id = $1",
    [notificationId],
  );
  return row;
}

export interface DeliveryFilter {
  /** Only these producers; undefined = every producer (the operator). */
  producer?: string;
  statuses?: readonly StoredStatus[];
  recipientHint?: string;
  recipientKeys?: readonly string[];
  /** Rows with a smaller seq than this (the page token). */
  beforeSeq?: bigint;
}

/** Newest first. */
export async function listDeliveries(db: Queryable, filter: DeliveryFilter, limit: number): Promise<DeliveryRow[]> {
  const conditions: string[] = [];
  const params: Array<string | bigint> = [];
  const bind = (value: string | bigint) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.producer !== undefined) conditions.push(`producer = ${bind(filter.producer)}`);
  if (filter.statuses) conditions.push(`status IN (${filter.statuses.map(bind).join(", ")})`);
  if (filter.recipientHint !== undefined) conditions.push(`recipient_hint = ${bind(filter.recipientHint)}`);
  if (filter.recipientKeys) conditions.push(`recipient_key IN (${filter.recipientKeys.map(bind).join(", ")})`);
  if (filter.beforeSeq !== undefined) conditions.push(`seq < ${bind(filter.beforeSeq)}`);
  const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
  return db.query<DeliveryRow & Record<string, unknown>>(`SELECT * FROM deliveries ${where} ORDER BY seq DESC LIMIT ${bind(BigInt(limit))}`, params);
}

// ---- the dispatcher's claims and outcomes ---------------------------------------------------

/** A pending delivery that is due, or one whose claim expired (its instance died mid-send). */
const CLAIMABLE = "((status = 'pending' AND next_attempt_at_ms <= $1) OR (status = 'sending' AND lease_until_ms < $1))";

export async function dueDeliveries(db: Queryable, nowMs: number, limit: number): Promise<bigint[]> {
  const rows = await db.query<{ seq: bigint }>(
    `SELECT seq FROM deliveries WHERE ${CLAIMABLE} ORDER BY next_attempt_at_ms LIMIT $2`,
    [BigInt(nowMs), BigInt(limit)],
  );
  return rows.map((row) => row.seq);
}

/** When the next pending delivery falls due; undefined when none waits. */
export async function nextDueAtMs(db: Queryable): Promise<number | undefined> {
  const [row] = await db.query<{ due: bigint | null }>("SELECT MIN(next_attempt_at_ms) AS due FROM deliveries WHERE status = 'pending'");
  return row?.due === null || row?.due === undefined ? undefined : Number(row.due);
}

/** Claims a delivery for one attempt (counted now): true if this caller won it. */
export async function claimDelivery(db: Queryable, seq: bigint, nowMs: number, token: string, leaseUntilMs: number): Promise<boolean> {
  const { changes } = await db.execute(
    `UPDATE deliveries SET status = 'sending', attempts = attempts + 1, lease_token = $2, lease_until_ms = $3
     WHERE seq = $4 AND ${CLAIMABLE}`,
    [BigInt(nowMs), token, BigInt(leaseUntilMs), seq],
  );
  return changes === 1;
}

export async function findClaimed(db: Queryable, seq: bigint, token: string): Promise<DeliveryRow | undefined> {
  const [row] = await db.query<DeliveryRow & Record<string, unknown>>("SELECT * FROM deliveries WHERE seq = $1 AND lease_token = $2", [seq, token]);
  return row;
}

/** Records the recipient's keyed hash, and its masked address when the request gave no hint. */
export async function setRecipient(tx: Transaction, seq: bigint, token: string, key: string, maskedAddress: string): Promise<void> {
  await tx.execute(
    "UPDATE deliveries SET recipient_key = $1, recipient_hint = CASE WHEN recipient_hint = '' THEN $2 ELSE recipient_hint END WHERE seq = $3 AND lease_token = $4",
    [key, maskedAddress, seq, token],
  );
}

/** The rate limit holds it back: not an attempt, so the claim's count is undone. */
export async function releaseRateLimited(tx: Transaction, seq: bigint, token: string, untilMs: number, reason: string): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE deliveries SET status = 'pending', attempts = attempts - 1, next_attempt_at_ms = $1, last_error = $2, lease_token = NULL, lease_until_ms = NULL
     WHERE seq = $3 AND lease_token = $4 AND status = 'sending'`,
    [BigInt(untilMs), reason, seq, token],
  );
  return changes === 1;
}

export async function markDelivered(tx: Transaction, seq: bigint, token: string, attemptAtMs: number, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE deliveries SET status = 'delivered', delivered_at_ms = $1, last_attempt_at_ms = $2, next_attempt_at_ms = NULL, last_error = NULL,
       lease_token = NULL, lease_until_ms = NULL
     WHERE seq = $3 AND lease_token = $4 AND status = 'sending'`,
    [BigInt(nowMs), BigInt(attemptAtMs), seq, token],
  );
  return changes === 1;
}

/** A failed attempt: pending again at nextAttemptAtMs, or dead-lettered when that is undefined. */
export async function markFailed(tx: Transaction, seq: bigint, token: string, attemptAtMs: number, reason: string, nextAttemptAtMs: number | undefined): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE deliveries SET status = $1, next_attempt_at_ms = $2, last_attempt_at_ms = $3, last_error = $4, lease_token = NULL, lease_until_ms = NULL
     WHERE seq = $5 AND lease_token = $6 AND status = 'sending'`,
    [nextAttemptAtMs === undefined ? "dead_lettered" : "pending", nextAttemptAtMs === undefined ? null : BigInt(nextAttemptAtMs),
      BigInt(attemptAtMs), reason, seq, token],
  );
  return changes === 1;
}

/** Gives a dead letter a new round of attempts, due now; false if it is not dead-lettered. */
export async function reviveDeadLetter(tx: Transaction, notificationId: string, requestId: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE deliveries SET status = 'pending', round_start_attempts = attempts, next_attempt_at_ms = $1, last_error = NULL, retry_request_id = $2
     WHERE notification_id = $3 AND status = 'dead_lettered'`,
    [BigInt(nowMs), requestId, notificationId],
  );
  return changes > 0;
}

// ---- the per-recipient rate limit -----------------------------------------------------------

export const RATE_WINDOW_MS = 60 * 60 * 1000;

export type SlotDecision = { allowed: true } | { allowed: false; untilMs: number };

/**
 * Reserves one of the recipient's sends in the sliding hour, in the caller's transaction. The
 * UPDATE of the recipient's rate row takes its row lock (PostgreSQL; SQLite has one writer), so
 * concurrent reservations for the same recipient are counted one after the other.
 */
export async function reserveSendSlot(tx: Transaction, recipientKey: string, notificationId: string, limit: number, nowMs: number): Promise<SlotDecision> {
  await tx.execute("INSERT INTO recipient_rate (recipient_key, reservations) VALUES ($1, 0) ON CONFLICT (recipient_key) DO NOTHING", [recipientKey]);
  await tx.execute("UPDATE recipient_rate SET reservations = reservations + 1 WHERE recipient_key = $1", [recipientKey]);
  await tx.execute("DELETE FROM recipient_sends WHERE recipient_key = $1 AND sent_at_ms <= $2", [recipientKey, BigInt(nowMs - RATE_WINDOW_MS)]);
  const sends = await tx.query<{ notification_id: string; sent_at_ms: bigint }>(
    "SELECT notification_id, sent_at_ms FROM recipient_sends WHERE recipient_key = $1 ORDER BY sent_at_ms",
    [recipientKey],
  );
  // A retry of a notification that holds a slot already keeps it.
  if (sends.some((send) => send.notification_id === notificationId)) return { allowed: true };
  if (sends.length >= limit) return { allowed: false, untilMs: Number(sends[sends.length - limit]!.sent_at_ms) + RATE_WINDOW_MS };
  await tx.execute("INSERT INTO recipient_sends (recipient_key, notification_id, sent_at_ms) VALUES ($1, $2, $3)", [recipientKey, notificationId, BigInt(nowMs)]);
  return { allowed: true };
}

/** A failed attempt reached nobody: its slot is given back. */
export async function releaseSendSlot(tx: Transaction, recipientKey: string, notificationId: string): Promise<void> {
  await tx.execute("DELETE FROM recipient_sends WHERE recipient_key = $1 AND notification_id = $2", [recipientKey, notificationId]);
}

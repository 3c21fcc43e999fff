// SQL of the card vault, authorizations and refunds. An open authorization (PREPARING or
// AUTHORIZED) holds exactly its amount on the account; every state change leaves an open state
// by one conditional statement, so the RPCs, the sweeper and the transfer consumers can race and
// each hold is released or debited once.
import type { Queryable, Transaction } from "@clearmesh/store";

export interface CardRow {
  cardToken: string;
  requestId: string;
  accountId: string;
  bankId: string;
  panSealed: string;
  maskedPan: string;
  expiryMonth: number;
  expiryYear: number;
  cardholderNameSealed: string;
  createdAtMs: number;
}

type CardRecord = {
  card_token: string; request_id: string; account_id: string; bank_id: string; pan_sealed: string; masked_pan: string;
  expiry_month: bigint; expiry_year: bigint; cardholder_name_sealed: string; created_at_ms: bigint;
};

const CARD_COLUMNS = "card_token, request_id, account_id, bank_id, pan_sealed, masked_pan, expiry_month, expiry_year, cardholder_name_sealed, created_at_ms";

function cardOf(row: CardRecord): CardRow {
  return {
    cardToken: row.card_token, requestId: row.request_id, accountId: row.account_id, bankId: row.bank_id, panSealed: row.pan_sealed,
    maskedPan: row.masked_pan, expiryMonth: Number(row.expiry_month), expiryYear: Number(row.expiry_year),
    cardholderNameSealed: row.cardholder_name_sealed, createdAtMs: Number(row.created_at_ms),
  };
}

export async function findCard(db: Queryable, cardToken: string): Promise<CardRow | undefined> {
  const [row] = await db.query<CardRecord>(`SELECT ${CARD_COLUMNS} FROM cards WHERE card_token = $1`, [cardToken]);
  return row === undefined ? undefined : cardOf(row);
}

export async function findCardByRequest(db: Queryable, requestId: string): Promise<CardRow | undefined> {
  const [row] = await db.query<CardRecord>(`SELECT ${CARD_COLUMNS} FROM cards WHERE request_id = $1`, [requestId]);
  return row === undefined ? undefined : cardOf(row);
}

export async function insertCard(tx: Transaction, card: CardRow): Promise<void> {
  await tx.execute(
    `INSERT INTO cards (${CARD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [card.cardToken, card.requestId, card.accountId, card.bankId, card.panSealed, card.maskedPan, card.expiryMonth, card.expiryYear,
      card.cardholderNameSealed, BigInt(card.createdAtMs)],
  );
}

/** PREPARING: held, PrepareTransfer sent, answer not booked yet. REFUSED: clearing said no, hold released. */
export type AuthorizationStateText = "PREPARING" | "AUTHORIZED" | "CAPTURED" | "VOIDED" | "EXPIRED" | "REFUSED";
export const OPEN_AUTHORIZATION_STATES: readonly AuthorizationStateText[] = ["PREPARING", "AUTHORIZED"];

export interface AuthorizationRow {
  authorizationId: string;
  cardToken: string;
  maskedPan: string;
  accountId: string;
  bankId: string;
  acquirerId: string;
  currency: string;
  amountMinor: bigint;
  merchantReference: string;
  /** The expiry the acquirer asked for; 0 = the bank's default. */
  requestedExpiresAtMs: number;
  expiresAtMs: number;
  state: AuthorizationStateText;
  heldMinor: bigint;
  capturedMinor: bigint;
  refundedMinor: bigint;
  refusalReason: string;
  refusalMessage: string;
  createdAtMs: number;
  updatedAtMs: number;
}

type AuthorizationRecord = {
  authorization_id: string; card_token: string; masked_pan: string; account_id: string; bank_id: string; acquirer_id: string; currency: string;
  amount_minor: bigint; merchant_reference: string; requested_expires_at_ms: bigint; expires_at_ms: bigint; state: string; held_minor: bigint;
  captured_minor: bigint; refunded_minor: bigint; refusal_reason: string; refusal_message: string; created_at_ms: bigint; updated_at_ms: bigint;
};

const AUTHORIZATION_SELECT = `SELECT a.authorization_id, a.card_token, c.masked_pan, a.account_id, a.bank_id, a.acquirer_id, a.currency,
  a.amount_minor, a.merchant_reference, a.requested_expires_at_ms, a.expires_at_ms, a.state, a.held_minor, a.captured_minor, a.refunded_minor,
  a.refusal_reason, a.refusal_message, a.created_at_ms, a.updated_at_ms
  FROM authorizations a JOIN cards c ON c.card_token = a.card_token`;

function authorizationOf(row: AuthorizationRecord): AuthorizationRow {
  return {
    authorizationId: row.authorization_id, cardToken: row.card_token, maskedPan: row.masked_pan, accountId: row.account_id, bankId: row.bank_id,
    acquirerId: row.acquirer_id, currency: row.currency, amountMinor: row.amount_minor, merchantReference: row.merchant_reference,
    requestedExpiresAtMs: Number(row.requested_expires_at_ms), expiresAtMs: Number(row.expires_at_ms), state: row.state as AuthorizationStateText,
    heldMinor: row.held_minor, capturedMinor: row.captured_minor, refundedMinor: row.refunded_minor, refusalReason: row.refusal_reason,
    refusalMessage: row.refusal_message, createdAtMs: Number(row.created_at_ms), updatedAtMs: Number(row.updated_at_ms),
  };
}

export async function findAuthorization(db: Queryable, authorizationId: string): Promise<AuthorizationRow | undefined> {
  const [row] = await db.query<AuthorizationRecord>(`${AUTHORIZATION_SELECT} WHERE a.authorization_id = $1`, [authorizationId]);
  return row === undefined ? undefined : authorizationOf(row);
}

/** Open authorizations the sweeper should look at: PREPARING untouched since `staleBeforeMs`, or AUTHORIZED past expiry. */
export async function authorizationsToResolve(db: Queryable, staleBeforeMs: number, expiredBeforeMs: number, limit: number): Promise<AuthorizationRow[]> {
  const rows = await db.query<AuthorizationRecord>(
    `${AUTHORIZATION_SELECT}
     WHERE (a.state = 'PREPARING' AND a.updated_at_ms < $1) OR (a.state = 'AUTHORIZED' AND a.expires_at_ms < $2 AND a.updated_at_ms < $1)
     ORDER BY a.updated_at_ms LIMIT $3`,
    [BigInt(staleBeforeMs), BigInt(expiredBeforeMs), limit],
  );
  return rows.map(authorizationOf);
}

export async function insertAuthorization(tx: Transaction, row: AuthorizationRow): Promise<void> {
  await tx.execute(
    `INSERT INTO authorizations (authorization_id, card_token, account_id, bank_id, acquirer_id, currency, amount_minor, merchant_reference,
       requested_expires_at_ms, expires_at_ms, state, held_minor, captured_minor, refunded_minor, refusal_reason, refusal_message,
       created_at_ms, updated_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
    [row.authorizationId, row.cardToken, row.accountId, row.bankId, row.acquirerId, row.currency, row.amountMinor, row.merchantReference,
      BigInt(row.requestedExpiresAtMs), BigInt(row.expiresAtMs), row.state, row.heldMinor, row.capturedMinor, row.refundedMinor,
      row.refusalReason, row.refusalMessage, BigInt(row.createdAtMs), BigInt(row.updatedAtMs)],
  );
}

/** PREPARING → AUTHORIZED (clearing reserved the transfer). */
export async function markAuthorized(tx: Transaction, authorizationId: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE authorizations SET state = 'AUTHORIZED', updated_at_ms = $2 WHERE authorization_id = $1 AND state = 'PREPARING'",
    [authorizationId, BigInt(nowMs)],
  );
  return changes === 1;
}

/** An open state → CAPTURED with the committed amount; the hold is gone (debited or released by the caller). */
export async function markCaptured(tx: Transaction, authorizationId: string, capturedMinor: bigint, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE authorizations SET state = 'CAPTURED', captured_minor = $2, held_minor = 0, updated_at_ms = $3
     WHERE authorization_id = $1 AND state IN ('PREPARING', 'AUTHORIZED')`,
    [authorizationId, capturedMinor, BigInt(nowMs)],
  );
  return changes === 1;
}

/** An open state → VOIDED, EXPIRED or REFUSED; the hold is gone (released by the caller). */
export async function markEnded(tx: Transaction, authorizationId: string, state: "VOIDED" | "EXPIRED" | "REFUSED", nowMs: number, refusal = { reason: "", message: "" }): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE authorizations SET state = $2, held_minor = 0, refusal_reason = $3, refusal_message = $4, updated_at_ms = $5
     WHERE authorization_id = $1 AND state IN ('PREPARING', 'AUTHORIZED')`,
    [authorizationId, state, refusal.reason, refusal.message, BigInt(nowMs)],
  );
  return changes === 1;
}

export async function touchAuthorization(db: Queryable, authorizationId: string, nowMs: number): Promise<void> {
  await db.execute("UPDATE authorizations SET updated_at_ms = $2 WHERE authorization_id = $1 AND state IN ('PREPARING', 'AUTHORIZED')", [authorizationId, BigInt(nowMs)]);
}

/** Adds a refund to a captured authorization while all refunds stay within the captured amount. */
export async function addRefunded(tx: Transaction, authorizationId: string, amountMinor: bigint, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE authorizations SET refunded_minor = refunded_minor + $2, updated_at_ms = $3
     WHERE authorization_id = $1 AND state = 'CAPTURED' AND refunded_minor + $2 <= captured_minor`,
    [authorizationId, amountMinor, BigInt(nowMs)],
  );
  return changes === 1;
}

export interface RefundRow {
  transferId: string;
  /** Null while only the transfer.committed consumer has booked it (no RefundCapture yet). */
  refundId: string | null;
  authorizationId: string;
  amountMinor: bigint;
}

type RefundRecord = { transfer_id: string; refund_id: string | null; authorization_id: string; amount_minor: bigint };

function refundOf(row: RefundRecord): RefundRow {
  return { transferId: row.transfer_id, refundId: row.refund_id, authorizationId: row.authorization_id, amountMinor: row.amount_minor };
}

export async function findRefund(db: Queryable, by: "refund_id" | "transfer_id", value: string): Promise<RefundRow | undefined> {
  const [row] = await db.query<RefundRecord>(`SELECT transfer_id, refund_id, authorization_id, amount_minor FROM refunds WHERE ${by} = $1`, [value]);
  return row === undefined ? undefined : refundOf(row);
}

export async function insertRefund(tx: Transaction, refund: RefundRow, nowMs: number): Promise<void> {
  await tx.execute(
    "INSERT INTO refunds (transfer_id, refund_id, authorization_id, amount_minor, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    [refund.transferId, refund.refundId, refund.authorizationId, refund.amountMinor, BigInt(nowMs)],
  );
}

/** Gives a refund the consumer booked (without an id) the refund_id of the RefundCapture that names its transfer. */
export async function claimRefund(tx: Transaction, transferId: string, refundId: string): Promise<boolean> {
  const { changes } = await tx.execute("UPDATE refunds SET refund_id = $2 WHERE transfer_id = $1 AND refund_id IS NULL", [transferId, refundId]);
  return changes === 1;
}

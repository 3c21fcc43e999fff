// Movements: what a user sees as a transaction (sent, received, top-up, withdrawal, payment), and
// the books changes behind them. An outgoing movement through clearing starts `pending` with a
// hold on the user's account and ends exactly once, by a conditional state change:
// `completed` (the hold becomes a debit, the clearing mirror rises) or `failed` (the hold is
// released). Whoever learns the outcome first (the call's answer, a clearing event, the
// reconciler) makes the change; the others find nothing left to do.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { WalletTransactionKind, WalletTransactionSchema, WalletTransactionState, type WalletTransaction } from "@clearmesh/contracts";
import type { Queryable, Transaction } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { clearingAccount, ensureAccount, post, releaseHold, userAccountId } from "../books/ledger.js";
import { MANDATE_REFUSALS, PASSED_ON_CLEARING_REASONS, WalletError, type WalletReason } from "../errors.js";
import { moneyParameter, type Notifier } from "../notifications/notify.js";
import { openPersonal } from "../users/personal.js";

export type MovementKind = "sent" | "received" | "top_up" | "withdrawal" | "payment";
export type MovementState = "pending" | "completed" | "failed";

export type MovementRow = {
  movement_id: string;
  provider_id: string;
  user_id: string;
  kind: MovementKind;
  state: MovementState;
  currency: string;
  amount_minor: bigint;
  fee_minor: bigint;
  counterparty_sealed: string | null;
  counterparty_provider_id: string;
  request_id: string | null;
  fingerprint: string | null;
  transfer_id: string | null;
  quote_id: string | null;
  reference: string | null;
  counterparty_name: string;
  /** A payment's merchant reference (the intent's order number); empty otherwise. */
  merchant_reference: string;
  failure_reason: string;
  failure_message: string;
  created_at_ms: bigint;
  completed_at_ms: bigint | null;
  next_check_at_ms: bigint;
};

export interface NewMovement {
  movementId: string;
  providerId: string;
  userId: string;
  kind: MovementKind;
  state: MovementState;
  currency: string;
  amountMinor: bigint;
  feeMinor?: bigint;
  counterpartySealed: string | null;
  counterpartyProviderId: string;
  requestId?: string;
  fingerprint?: string;
  transferId?: string;
  quoteId?: string;
  /** The outside thing it is about: the payment intent paid, the bank link topped up from. */
  reference?: string;
  /** A counterparty that is no person, shown in notifications (a merchant id). */
  counterpartyName?: string;
  /** A payment's merchant reference, shown in its notification. */
  merchantReference?: string;
  nowMs: number;
  nextCheckAtMs?: number;
}

/** Inserts the movement unless its (user, request id) or (transfer id, kind) exists; false then. */
export async function insertMovement(tx: Queryable, movement: NewMovement): Promise<boolean> {
  const { changes } = await tx.execute(
    `INSERT INTO movements (movement_id, provider_id, user_id, kind, state, currency, amount_minor, fee_minor, counterparty_sealed, counterparty_provider_id,
       request_id, fingerprint, transfer_id, quote_id, created_at_ms, completed_at_ms, next_check_at_ms, reference, counterparty_name, merchant_reference)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT DO NOTHING`,
    [
      movement.movementId, movement.providerId, movement.userId, movement.kind, movement.state, movement.currency, movement.amountMinor,
      movement.feeMinor ?? 0n, movement.counterpartySealed, movement.counterpartyProviderId, movement.requestId ?? null, movement.fingerprint ?? null,
      movement.transferId ?? null, movement.quoteId ?? null, BigInt(movement.nowMs), movement.state === "pending" ? null : BigInt(movement.nowMs),
      BigInt(movement.nextCheckAtMs ?? 0), movement.reference ?? null, movement.counterpartyName ?? "", movement.merchantReference ?? "",
    ],
  );
  return changes === 1;
}

export async function findMovement(db: Queryable, movementId: string): Promise<MovementRow | undefined> {
  const [row] = await db.query<MovementRow>("SELECT * FROM movements WHERE movement_id = $1", [movementId]);
  return row;
}

export async function findMovementByRequest(db: Queryable, userId: string, requestId: string): Promise<MovementRow | undefined> {
  const [row] = await db.query<MovementRow>("SELECT * FROM movements WHERE user_id = $1 AND request_id = $2", [userId, requestId]);
  return row;
}

/** The payer's movement of a clearing transfer (sent, withdrawal or payment). */
export async function findOutgoingByTransfer(db: Queryable, transferId: string): Promise<MovementRow | undefined> {
  const [row] = await db.query<MovementRow>("SELECT * FROM movements WHERE transfer_id = $1 AND kind IN ('sent', 'withdrawal', 'payment')", [transferId]);
  return row;
}

export async function findMovementByTransfer(db: Queryable, transferId: string, kind: MovementKind): Promise<MovementRow | undefined> {
  const [row] = await db.query<MovementRow>("SELECT * FROM movements WHERE transfer_id = $1 AND kind = $2", [transferId, kind]);
  return row;
}

/** Notification kind of a completed outgoing movement. */
const COMPLETED_KIND: Readonly<Record<MovementKind, string>> = {
  sent: "transfer.sent", received: "transfer.received", top_up: "topup.completed", withdrawal: "withdrawal.completed", payment: "payment.succeeded",
};

/**
 * Completes a pending outgoing movement: the hold becomes a debit of what clearing committed (a
 * partial capture commits less: the rest of the hold is released, and the movement shows what
 * was paid), and the clearing mirror rises by as much. False when it was not pending (someone
 * else ended it).
 */
export async function completeOutgoing(
  tx: Transaction, notifier: Notifier, movement: MovementRow, settled: { feeMinor: bigint; committedMinor?: bigint }, parameters: Record<string, string>, nowMs: number,
): Promise<boolean> {
  const committed = settled.committedMinor ?? movement.amount_minor;
  if (committed <= 0n || committed > movement.amount_minor) throw new Error(`books invariant: ${movement.movement_id} committed ${committed} of a hold of ${movement.amount_minor}`);
  const { changes } = await tx.execute(
    "UPDATE movements SET state = 'completed', fee_minor = $2, amount_minor = $3, completed_at_ms = $4 WHERE movement_id = $1 AND state = 'pending'",
    [movement.movement_id, settled.feeMinor, committed, BigInt(nowMs)],
  );
  if (changes !== 1) return false;
  const account = userAccountId(movement.user_id, movement.currency);
  if (committed < movement.amount_minor) await releaseHold(tx, account, movement.amount_minor - committed);
  const mirror = clearingAccount(movement.provider_id, movement.currency);
  await ensureAccount(tx, mirror);
  const posted = await post(tx, movement.movement_id, [
    { accountId: account, amountMinor: -committed, fromHold: true },
    { accountId: mirror.accountId, amountMinor: committed },
  ], nowMs);
  if (!posted.ok) throw new Error(`books invariant: completing ${movement.movement_id} refused on ${posted.accountId} (${posted.problem})`);
  await notifier.notify(tx, {
    notificationId: `${movement.movement_id}.done`, userId: movement.user_id, kind: COMPLETED_KIND[movement.kind],
    parameters: { amount: moneyParameter(movement.currency, committed), ...paymentParameters(movement), ...parameters },
  });
  return true;
}

/** What a payment's notification names: the merchant and, when it gave one, its reference. */
function paymentParameters(movement: MovementRow): Record<string, string> {
  if (movement.kind !== "payment") return {};
  return { merchant: movement.counterparty_name, ...(movement.merchant_reference ? { reference: movement.merchant_reference } : {}) };
}

/** Fails a pending outgoing movement and releases its hold. False when it was not pending. */
export async function failOutgoing(tx: Transaction, notifier: Notifier, movement: MovementRow, reason: string, message: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE movements SET state = 'failed', failure_reason = $2, failure_message = $3, completed_at_ms = $4 WHERE movement_id = $1 AND state = 'pending'",
    [movement.movement_id, reason, message.slice(0, 500), BigInt(nowMs)],
  );
  if (changes !== 1) return false;
  await releaseHold(tx, userAccountId(movement.user_id, movement.currency), movement.amount_minor);
  await notifier.notify(tx, {
    notificationId: `${movement.movement_id}.failed`, userId: movement.user_id, kind: "movement.failed",
    parameters: { amount: moneyParameter(movement.currency, movement.amount_minor), reason, movement: movement.kind },
  });
  return true;
}

const KIND_OF: Readonly<Record<MovementKind, WalletTransactionKind>> = {
  sent: WalletTransactionKind.SENT, received: WalletTransactionKind.RECEIVED, top_up: WalletTransactionKind.TOP_UP,
  withdrawal: WalletTransactionKind.WITHDRAWAL, payment: WalletTransactionKind.PAYMENT,
};
const STATE_OF: Readonly<Record<MovementState, WalletTransactionState>> = {
  pending: WalletTransactionState.PENDING, completed: WalletTransactionState.COMPLETED, failed: WalletTransactionState.FAILED,
};

/** The movement as its user sees it; the counterparty is opened with the user's key. */
export function transactionView(row: MovementRow, userKey: DataKeyRing | undefined): WalletTransaction {
  return create(WalletTransactionSchema, {
    transactionId: row.movement_id,
    requestId: row.request_id ?? "",
    kind: KIND_OF[row.kind],
    state: STATE_OF[row.state],
    amount: { currency: row.currency, amountMinor: row.amount_minor },
    fee: { currency: row.currency, amountMinor: row.fee_minor },
    counterparty: row.counterparty_sealed && userKey ? openPersonal(userKey, row.counterparty_sealed) : "",
    counterpartyProviderId: row.counterparty_provider_id,
    transferId: row.transfer_id ?? "",
    failureReason: row.failure_reason,
    createdAt: timestampFromMs(Number(row.created_at_ms)),
    completedAt: row.completed_at_ms === null ? undefined : timestampFromMs(Number(row.completed_at_ms)),
  });
}

/**
 * A repeat of a request id: the same request answers the movement as it is now (a failed one
 * answers its refusal again); a different request names the first differing field.
 */
export function repeatOf(movement: MovementRow, fingerprint: string): MovementRow {
  const held = JSON.parse(movement.fingerprint ?? "{}") as Record<string, string>;
  const given = JSON.parse(fingerprint) as Record<string, string>;
  const differing = Object.keys({ ...held, ...given }).find((key) => held[key] !== given[key]);
  if (differing) throw new WalletError("IDEMPOTENCY_CONFLICT", `request ${movement.request_id} was first used with a different ${differing}`, { field: differing });
  if (movement.state === "failed") throw refusalOf(movement);
  return movement;
}

/** A failed movement's refusal, answered to its request and every repeat of it. */
export function refusalOf(movement: MovementRow): WalletError {
  const raw = movement.failure_reason;
  const detail = movement.failure_message || raw;
  if (movement.kind === "top_up") {
    if (MANDATE_REFUSALS.has(raw)) return new WalletError("MANDATE_INVALID", `the bank refused the pull: ${detail}`, { bank_reason: raw });
    const reason: WalletReason = raw === "MANDATE_LIMIT_EXCEEDED" || raw === "CURRENCY_MISMATCH" ? raw : "BANK_REFUSED";
    return new WalletError(reason, `the bank refused the pull: ${detail}`, { bank_reason: raw });
  }
  if (raw === "CONNECTOR_REFUSED") {
    return new WalletError("CONNECTOR_REFUSED", `the e-commerce connector refused the payment: ${detail}`, { connector_reason: detail.split(":")[0] ?? "" });
  }
  const reason: WalletReason = PASSED_ON_CLEARING_REASONS.has(raw) ? raw as WalletReason : "CLEARING_REFUSED";
  return new WalletError(reason, `clearing refused the transfer: ${detail}`, { clearing_reason: raw });
}

/** Fails a pending movement that holds nothing (a top-up). False when it was not pending. */
export async function failIncoming(tx: Transaction, notifier: Notifier, movement: MovementRow, reason: string, message: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE movements SET state = 'failed', failure_reason = $2, failure_message = $3, completed_at_ms = $4 WHERE movement_id = $1 AND state = 'pending'",
    [movement.movement_id, reason, message.slice(0, 500), BigInt(nowMs)],
  );
  if (changes !== 1) return false;
  await notifier.notify(tx, {
    notificationId: `${movement.movement_id}.failed`, userId: movement.user_id, kind: "movement.failed",
    parameters: { amount: moneyParameter(movement.currency, movement.amount_minor), reason, movement: movement.kind },
  });
  return true;
}

// SQL of pulls. A pull is PENDING from the moment its hold is placed until clearing's answer is
// known, then COMPLETED (the hold became a debit) or FAILED (the hold was released). Each change
// is conditional on PENDING, so the RPC, the sweeper and the transfer.committed consumer can race
// and the money still moves once.
import type { Queryable, Transaction } from "@clearmesh/store";

export type PullStateText = "PENDING" | "COMPLETED" | "FAILED";

export interface PullRow {
  pullId: string;
  mandateId: string;
  accountId: string;
  bankId: string;
  payeeId: string;
  currency: string;
  amountMinor: bigint;
  payeeReference: string;
  usageDay: string;
  state: PullStateText;
  heldMinor: bigint;
  failureReason: string;
  createdAtMs: number;
  updatedAtMs: number;
}

type PullRecord = {
  pull_id: string; mandate_id: string; account_id: string; bank_id: string; payee_id: string; currency: string; amount_minor: bigint;
  payee_reference: string; usage_day: string; state: string; held_minor: bigint; failure_reason: string; created_at_ms: bigint; updated_at_ms: bigint;
};

const COLUMNS = `pull_id, mandate_id, account_id, bank_id, payee_id, currency, amount_minor, payee_reference, usage_day, state, held_minor,
  failure_reason, created_at_ms, updated_at_ms`;

function pullOf(row: PullRecord): PullRow {
  return {
    pullId: row.pull_id, mandateId: row.mandate_id, accountId: row.account_id, bankId: row.bank_id, payeeId: row.payee_id, currency: row.currency,
    amountMinor: row.amount_minor, payeeReference: row.payee_reference, usageDay: row.usage_day, state: row.state as PullStateText,
    heldMinor: row.held_minor, failureReason: row.failure_reason, createdAtMs: Number(row.created_at_ms), updatedAtMs: Number(row.updated_at_ms),
  };
}

export async function findPull(db: Queryable, pullId: string): Promise<PullRow | undefined> {
  const [row] = await db.query<PullRecord>(`SELECT ${COLUMNS} FROM pulls WHERE pull_id = $1`, [pullId]);
  return row === undefined ? undefined : pullOf(row);
}

/** PENDING pulls last touched before `beforeMs`, oldest first. */
export async function pendingPulls(db: Queryable, beforeMs: number, limit: number): Promise<PullRow[]> {
  const rows = await db.query<PullRecord>(
    `SELECT ${COLUMNS} FROM pulls WHERE state = 'PENDING' AND updated_at_ms < $1 ORDER BY updated_at_ms LIMIT $2`,
    [BigInt(beforeMs), limit],
  );
  return rows.map(pullOf);
}

export async function insertPull(tx: Transaction, pull: PullRow): Promise<void> {
  await tx.execute(
    `INSERT INTO pulls (pull_id, mandate_id, account_id, bank_id, payee_id, currency, amount_minor, payee_reference, usage_day, state,
       held_minor, failure_reason, created_at_ms, updated_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [pull.pullId, pull.mandateId, pull.accountId, pull.bankId, pull.payeeId, pull.currency, pull.amountMinor, pull.payeeReference,
      pull.usageDay, pull.state, pull.heldMinor, pull.failureReason, BigInt(pull.createdAtMs), BigInt(pull.updatedAtMs)],
  );
}

/** PENDING → COMPLETED or FAILED; false when the pull had left PENDING already. */
export async function finishPull(tx: Transaction, pullId: string, state: "COMPLETED" | "FAILED", failureReason: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE pulls SET state = $2, held_minor = 0, failure_reason = $3, updated_at_ms = $4 WHERE pull_id = $1 AND state = 'PENDING'",
    [pullId, state, failureReason, BigInt(nowMs)],
  );
  return changes === 1;
}

/** Marks a PENDING pull as looked at, so the sweeper moves on to others. */
export async function touchPull(db: Queryable, pullId: string, nowMs: number): Promise<void> {
  await db.execute("UPDATE pulls SET updated_at_ms = $2 WHERE pull_id = $1 AND state = 'PENDING'", [pullId, BigInt(nowMs)]);
}

// SQL of mandates and their daily usage. State changes are conditional on the state they leave,
// so a confirmation, a wrong code and a revocation racing on several instances each happen once.
import type { Queryable, Transaction } from "@clearmesh/store";

export type MandateStateText = "PENDING_CONFIRMATION" | "ACTIVE" | "REVOKED" | "EXPIRED";

export interface MandateRow {
  mandateId: string;
  requestId: string;
  accountId: string;
  payeeId: string;
  currency: string;
  perTransferLimitMinor: bigint;
  dailyLimitMinor: bigint;
  state: MandateStateText;
  codeHash: string;
  codeSalt: string;
  codeExpiresAtMs: number;
  codeAttempts: number;
  createdAtMs: number;
}

type MandateRecord = {
  mandate_id: string; request_id: string; account_id: string; payee_id: string; currency: string; per_transfer_limit_minor: bigint;
  daily_limit_minor: bigint; state: string; code_hash: string; code_salt: string; code_expires_at_ms: bigint; code_attempts: bigint;
  created_at_ms: bigint;
};

const COLUMNS = `mandate_id, request_id, account_id, payee_id, currency, per_transfer_limit_minor, daily_limit_minor, state, code_hash,
  code_salt, code_expires_at_ms, code_attempts, created_at_ms`;

function mandateOf(row: MandateRecord): MandateRow {
  return {
    mandateId: row.mandate_id, requestId: row.request_id, accountId: row.account_id, payeeId: row.payee_id, currency: row.currency,
    perTransferLimitMinor: row.per_transfer_limit_minor, dailyLimitMinor: row.daily_limit_minor, state: row.state as MandateStateText,
    codeHash: row.code_hash, codeSalt: row.code_salt, codeExpiresAtMs: Number(row.code_expires_at_ms), codeAttempts: Number(row.code_attempts),
    createdAtMs: Number(row.created_at_ms),
  };
}

async function findBy(db: Queryable, column: "mandate_id" | "request_id" | "token_hash", value: string): Promise<MandateRow | undefined> {
  const [row] = await db.query<MandateRecord>(`SELECT ${COLUMNS} FROM mandates WHERE ${column} = $1`, [value]);
  return row === undefined ? undefined : mandateOf(row);
}

export const findMandate = (db: Queryable, mandateId: string) => findBy(db, "mandate_id", mandateId);
export const findMandateByRequest = (db: Queryable, requestId: string) => findBy(db, "request_id", requestId);
export const findMandateByTokenHash = (db: Queryable, tokenHash: string) => findBy(db, "token_hash", tokenHash);

export async function insertMandate(tx: Transaction, mandate: MandateRow): Promise<void> {
  await tx.execute(
    `INSERT INTO mandates (mandate_id, request_id, account_id, payee_id, currency, per_transfer_limit_minor, daily_limit_minor, state,
       code_hash, code_salt, code_expires_at_ms, code_attempts, created_at_ms, updated_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
    [mandate.mandateId, mandate.requestId, mandate.accountId, mandate.payeeId, mandate.currency, mandate.perTransferLimitMinor,
      mandate.dailyLimitMinor, mandate.state, mandate.codeHash, mandate.codeSalt, BigInt(mandate.codeExpiresAtMs), mandate.codeAttempts,
      BigInt(mandate.createdAtMs)],
  );
}

/** PENDING_CONFIRMATION → EXPIRED (the code lapsed, or the attempts ran out). */
export async function expireMandate(tx: Transaction, mandateId: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE mandates SET state = 'EXPIRED', updated_at_ms = $2 WHERE mandate_id = $1 AND state = 'PENDING_CONFIRMATION'",
    [mandateId, BigInt(nowMs)],
  );
  return changes === 1;
}

/** Counts a wrong code; the attempt that reaches `maxAttempts` expires the mandate. Returns the attempts left, or undefined if it was not pending. */
export async function recordWrongCode(tx: Transaction, mandateId: string, maxAttempts: number, nowMs: number): Promise<number | undefined> {
  const [row] = await tx.query<{ code_attempts: bigint }>(
    `UPDATE mandates SET code_attempts = code_attempts + 1,
       state = CASE WHEN code_attempts + 1 >= $2 THEN 'EXPIRED' ELSE state END, updated_at_ms = $3
     WHERE mandate_id = $1 AND state = 'PENDING_CONFIRMATION' AND code_attempts < $2
     RETURNING code_attempts`,
    [mandateId, maxAttempts, BigInt(nowMs)],
  );
  return row === undefined ? undefined : Math.max(0, maxAttempts - Number(row.code_attempts));
}

/** PENDING_CONFIRMATION → ACTIVE with the token's hash, while the code is still valid. */
export async function activateMandate(tx: Transaction, mandateId: string, tokenHash: string, maxAttempts: number, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    `UPDATE mandates SET state = 'ACTIVE', token_hash = $2, updated_at_ms = $4
     WHERE mandate_id = $1 AND state = 'PENDING_CONFIRMATION' AND code_attempts < $3 AND code_expires_at_ms > $4`,
    [mandateId, tokenHash, maxAttempts, BigInt(nowMs)],
  );
  return changes === 1;
}

/** PENDING_CONFIRMATION or ACTIVE → REVOKED. */
export async function revokeMandate(tx: Transaction, mandateId: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE mandates SET state = 'REVOKED', updated_at_ms = $2 WHERE mandate_id = $1 AND state IN ('PENDING_CONFIRMATION', 'ACTIVE')",
    [mandateId, BigInt(nowMs)],
  );
  return changes === 1;
}

/**
 * Adds a pull to the mandate's usage of one UTC day, only while the day's total stays within
 * `dailyLimitMinor`: one statement, so pulls racing on several instances cannot overrun it.
 */
export async function reserveDailyUsage(tx: Transaction, mandateId: string, usageDay: string, amountMinor: bigint, dailyLimitMinor: bigint): Promise<boolean> {
  if (amountMinor > dailyLimitMinor) return false;
  const { changes } = await tx.execute(
    `INSERT INTO mandate_daily_usage (mandate_id, usage_day, used_minor) VALUES ($1, $2, $3)
     ON CONFLICT (mandate_id, usage_day) DO UPDATE SET used_minor = mandate_daily_usage.used_minor + excluded.used_minor
     WHERE mandate_daily_usage.used_minor + excluded.used_minor <= $4`,
    [mandateId, usageDay, amountMinor, dailyLimitMinor],
  );
  return changes === 1;
}

/** Gives back the usage of a pull clearing refused. */
export async function releaseDailyUsage(tx: Transaction, mandateId: string, usageDay: string, amountMinor: bigint): Promise<void> {
  const { changes } = await tx.execute(
    "UPDATE mandate_daily_usage SET used_minor = used_minor - $3 WHERE mandate_id = $1 AND usage_day = $2 AND used_minor >= $3",
    [mandateId, usageDay, amountMinor],
  );
  if (changes !== 1) throw new Error(`mandate ${mandateId} has no usage of ${amountMinor} on ${usageDay} to release`);
}

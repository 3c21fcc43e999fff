// SQL of users, their keys and sessions. Conditional updates only: counters and states change in
// SQL, so concurrent calls on several processes cannot lose an increment or skip a lock.
import type { Queryable, Transaction } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { openUserKey } from "./personal.js";

export type UserRow = {
  user_id: string;
  provider_id: string;
  status: "active" | "erased";
  email_sealed: string | null;
  phone_sealed: string | null;
  display_name_sealed: string | null;
  password_hash: string;
  totp_secret_sealed: string | null;
  totp_pending_sealed: string | null;
  totp_enabled: bigint;
  totp_last_step: bigint;
  failed_attempts: bigint;
  locked_until_ms: bigint;
  created_at_ms: bigint;
};

export async function findUser(db: Queryable, userId: string): Promise<UserRow | undefined> {
  const [row] = await db.query<UserRow>("SELECT * FROM users WHERE user_id = $1", [userId]);
  return row;
}

/** The active user of a provider whose e-mail (or phone) has one of these keyed hashes. */
export async function findUserByAlias(db: Queryable, providerId: string, column: "email_hash" | "phone_hash", hashes: readonly string[]): Promise<UserRow | undefined> {
  const placeholders = hashes.map((_, index) => `$${index + 2}`).join(", ");
  const [row] = await db.query<UserRow>(`SELECT * FROM users WHERE provider_id = $1 AND status = 'active' AND ${column} IN (${placeholders})`, [providerId, ...hashes]);
  return row;
}

export async function aliasTaken(db: Queryable, providerId: string, column: "email_hash" | "phone_hash", hashes: readonly string[]): Promise<boolean> {
  const placeholders = hashes.map((_, index) => `$${index + 2}`).join(", ");
  const rows = await db.query(`SELECT 1 AS taken FROM users WHERE provider_id = $1 AND ${column} IN (${placeholders})`, [providerId, ...hashes]);
  return rows.length > 0;
}

/** The user's data key ring, or undefined once erased (the key row is gone). */
export async function loadUserKey(db: Queryable, dataKeys: DataKeyRing, userId: string): Promise<DataKeyRing | undefined> {
  const [row] = await db.query<{ sealed_key: string }>("SELECT sealed_key FROM user_keys WHERE user_id = $1", [userId]);
  return row ? openUserKey(dataKeys, row.sealed_key) : undefined;
}

export interface NewUser {
  userId: string;
  providerId: string;
  emailHash: string;
  phoneHash: string;
  emailSealed: string;
  phoneSealed: string;
  displayNameSealed: string;
  passwordHash: string;
  sealedUserKey: string;
  nowMs: number;
}

/** Inserts the user unless its e-mail or phone is taken at the provider; false when taken. */
export async function insertUser(tx: Transaction, user: NewUser): Promise<boolean> {
  const { changes } = await tx.execute(
    `INSERT INTO users (user_id, provider_id, status, email_hash, phone_hash, email_sealed, phone_sealed, display_name_sealed, password_hash, created_at_ms)
     VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
    [user.userId, user.providerId, user.emailHash, user.phoneHash, user.emailSealed, user.phoneSealed, user.displayNameSealed, user.passwordHash, BigInt(user.nowMs)],
  );
  if (changes === 0) return false;
  await tx.execute("INSERT INTO user_keys (user_id, sealed_key) VALUES ($1, $2)", [user.userId, user.sealedUserKey]);
  for (const kind of ["email", "phone"]) {
    await tx.execute("INSERT INTO alias_registrations (user_id, kind, state, attempts, next_attempt_at_ms) VALUES ($1, $2, 'pending', 0, $3)", [user.userId, kind, BigInt(user.nowMs)]);
  }
  return true;
}

/**
 * Counts a failed login; the attempt that reaches the limit locks the account until
 * `now + lockout` and starts the count again. A locked account counts nothing.
 */
export async function recordLoginFailure(db: Queryable, userId: string, maxAttempts: number, lockoutMs: number, nowMs: number): Promise<void> {
  await db.execute(
    `UPDATE users SET
       locked_until_ms = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until_ms END,
       failed_attempts = CASE WHEN failed_attempts + 1 >= $2 THEN 0 ELSE failed_attempts + 1 END
     WHERE user_id = $1 AND locked_until_ms <= $4`,
    [userId, BigInt(maxAttempts), BigInt(nowMs + lockoutMs), BigInt(nowMs)],
  );
}

/**
 * Records a successful login: resets the failure count and remembers the TOTP step used (a code
 * is good once). False when the account got locked meanwhile or the step was used by a racing login.
 */
export async function recordLoginSuccess(tx: Transaction, userId: string, totpStep: number | undefined, nowMs: number): Promise<boolean> {
  const step = totpStep === undefined ? "totp_last_step" : "$3";
  const guard = totpStep === undefined ? "" : " AND totp_last_step < $3";
  const { changes } = await tx.execute(
    `UPDATE users SET failed_attempts = 0, totp_last_step = ${step} WHERE user_id = $1 AND status = 'active' AND locked_until_ms <= $2${guard}`,
    totpStep === undefined ? [userId, BigInt(nowMs)] : [userId, BigInt(nowMs), BigInt(totpStep)],
  );
  return changes === 1;
}

export async function insertSession(tx: Transaction, tokenHash: string, userId: string, nowMs: number, expiresAtMs: number): Promise<void> {
  await tx.execute("INSERT INTO sessions (token_hash, user_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
    [tokenHash, userId, BigInt(nowMs), BigInt(expiresAtMs)]);
}

export type SessionRow = {
  user_id: string;
  provider_id: string;
  expires_at_ms: bigint;
  revoked_at_ms: bigint | null;
  status: string;
};

export async function findSession(db: Queryable, tokenHash: string): Promise<SessionRow | undefined> {
  const [row] = await db.query<SessionRow>(
    "SELECT s.user_id, u.provider_id, s.expires_at_ms, s.revoked_at_ms, u.status FROM sessions s JOIN users u ON u.user_id = s.user_id WHERE s.token_hash = $1",
    [tokenHash],
  );
  return row;
}

/** Ends every session of the user except `keepTokenHash` (none when empty); returns how many. */
export async function revokeSessions(db: Queryable, userId: string, keepTokenHash: string, nowMs: number): Promise<number> {
  const { changes } = await db.execute(
    "UPDATE sessions SET revoked_at_ms = $3 WHERE user_id = $1 AND token_hash <> $2 AND revoked_at_ms IS NULL",
    [userId, keepTokenHash, BigInt(nowMs)],
  );
  return changes;
}

export async function revokeSession(db: Queryable, tokenHash: string, nowMs: number): Promise<void> {
  await db.execute("UPDATE sessions SET revoked_at_ms = $2 WHERE token_hash = $1 AND revoked_at_ms IS NULL", [tokenHash, BigInt(nowMs)]);
}

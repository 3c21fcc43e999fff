// The provider's double-entry books, in SQL only: every balance change is a conditional UPDATE
// (several wallet processes may share one PostgreSQL; nothing is read, changed in JavaScript and
// written back), and every completed movement writes entries that sum to zero.
//
// Accounts per provider and currency (ids are deterministic):
// - `u:<user id>:<currency>`: a user's wallet, what the provider owes the user; never negative,
//   and `held_minor` (money on hold for payments in flight) never above the balance;
// - `p:<provider>:clearing:<currency>`: the mirror of the provider's position at clearing
//   (positive = the provider owes the scheme), the counter-account of every payment through
//   clearing; it may be negative;
// - `p:<provider>:suspense:<currency>`: money received for an alias no user holds.
// Sign: entries are credit-positive on every account, so user +x and clearing −x when money
// arrives through clearing, and the accounts of a provider and currency always sum to zero.
//
// Lock order (PostgreSQL, against deadlocks): a user's row (`lockUser`) before accounts, and
// accounts in account id order (`post` sorts its postings).
import type { Transaction } from "@clearmesh/store";
import { INT64_MAX } from "../validation.js";

export type AccountKind = "user" | "clearing" | "suspense";

export const userAccountId = (userId: string, currency: string) => `u:${userId}:${currency}`;
export const clearingAccountId = (providerId: string, currency: string) => `p:${providerId}:clearing:${currency}`;
export const suspenseAccountId = (providerId: string, currency: string) => `p:${providerId}:suspense:${currency}`;

export interface AccountRef {
  accountId: string;
  providerId: string;
  kind: AccountKind;
  userId: string | null;
  currency: string;
}

export const userAccount = (providerId: string, userId: string, currency: string): AccountRef =>
  ({ accountId: userAccountId(userId, currency), providerId, kind: "user", userId, currency });
export const clearingAccount = (providerId: string, currency: string): AccountRef =>
  ({ accountId: clearingAccountId(providerId, currency), providerId, kind: "clearing", userId: null, currency });
export const suspenseAccount = (providerId: string, currency: string): AccountRef =>
  ({ accountId: suspenseAccountId(providerId, currency), providerId, kind: "suspense", userId: null, currency });

export async function ensureAccount(tx: Transaction, account: AccountRef): Promise<void> {
  await tx.execute(
    "INSERT INTO accounts (account_id, provider_id, kind, user_id, currency, balance_minor, held_minor) VALUES ($1, $2, $3, $4, $5, 0, 0) ON CONFLICT (account_id) DO NOTHING",
    [account.accountId, account.providerId, account.kind, account.userId, account.currency],
  );
}

/** Locks the user's row until the transaction ends (PostgreSQL; SQLite transactions are serial). */
export async function lockUser(tx: Transaction, userId: string): Promise<{ status: string } | undefined> {
  const [row] = await tx.query<{ status: string }>(`SELECT status FROM users WHERE user_id = $1${tx.dialect === "postgres" ? " FOR UPDATE" : ""}`, [userId]);
  return row;
}

/** Puts `amount` on hold if the available balance (balance − held) covers it. */
export async function placeHold(tx: Transaction, accountId: string, amountMinor: bigint): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE accounts SET held_minor = held_minor + $2 WHERE account_id = $1 AND balance_minor - held_minor >= $2",
    [accountId, amountMinor],
  );
  return changes === 1;
}

/** Releases a hold; the caller's state transition guarantees it exists. */
export async function releaseHold(tx: Transaction, accountId: string, amountMinor: bigint): Promise<void> {
  const { changes } = await tx.execute("UPDATE accounts SET held_minor = held_minor - $2 WHERE account_id = $1 AND held_minor >= $2", [accountId, amountMinor]);
  if (changes !== 1) throw new Error(`books invariant: no hold of ${amountMinor} on ${accountId} to release`);
}

/** A change of one account; `fromHold` debits money that was on hold (and ends the hold). */
export interface Posting {
  accountId: string;
  amountMinor: bigint;
  fromHold?: boolean;
}

export type PostOutcome = { ok: true } | { ok: false; accountId: string; problem: "insufficient" | "overflow" };

/**
 * Applies postings that sum to zero, in account id order, each as one conditional UPDATE:
 * a user or suspense account never below zero (or below its holds, unless debiting the hold
 * itself), no balance beyond int64. On a refusal nothing after it ran; the caller must then
 * throw so the transaction rolls back. Writes one entry per posting.
 */
export async function post(tx: Transaction, movementId: string, postings: readonly Posting[], nowMs: number): Promise<PostOutcome> {
  const total = postings.reduce((sum, posting) => sum + posting.amountMinor, 0n);
  if (total !== 0n) throw new Error(`books invariant: postings of ${movementId} sum to ${total}, not zero`);
  const ordered = [...postings].sort((a, b) => (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0));
  for (const posting of ordered) {
    const outcome = await postOne(tx, posting);
    if (!outcome.ok) return outcome;
  }
  for (const [index, posting] of postings.entries()) {
    await tx.execute("INSERT INTO entries (entry_id, movement_id, account_id, amount_minor, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
      [`${movementId}:${index + 1}`, movementId, posting.accountId, posting.amountMinor, BigInt(nowMs)]);
  }
  return { ok: true };
}

async function postOne(tx: Transaction, posting: Posting): Promise<PostOutcome> {
  const { accountId, amountMinor } = posting;
  if (amountMinor > 0n) {
    const { changes } = await tx.execute("UPDATE accounts SET balance_minor = balance_minor + $2 WHERE account_id = $1 AND balance_minor <= $3",
      [accountId, amountMinor, INT64_MAX - amountMinor]);
    return changes === 1 ? { ok: true } : { ok: false, accountId, problem: "overflow" };
  }
  const debit = -amountMinor;
  const sql = posting.fromHold
    ? "UPDATE accounts SET balance_minor = balance_minor - $2, held_minor = held_minor - $2 WHERE account_id = $1 AND held_minor >= $2 AND balance_minor >= $2"
    : "UPDATE accounts SET balance_minor = balance_minor - $2 WHERE account_id = $1 AND (kind = 'clearing' AND balance_minor >= $3 OR kind <> 'clearing' AND balance_minor - held_minor >= $2)";
  const { changes } = await tx.execute(sql, posting.fromHold ? [accountId, debit] : [accountId, debit, -INT64_MAX + debit]);
  return changes === 1 ? { ok: true } : { ok: false, accountId, problem: "insufficient" };
}

export type AccountRow = {
  account_id: string;
  provider_id: string;
  kind: AccountKind;
  user_id: string | null;
  currency: string;
  balance_minor: bigint;
  held_minor: bigint;
};

export async function userAccounts(db: Pick<Transaction, "query">, userId: string): Promise<AccountRow[]> {
  return db.query<AccountRow>("SELECT * FROM accounts WHERE user_id = $1 ORDER BY currency", [userId]);
}

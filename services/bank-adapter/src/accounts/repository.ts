// SQL of customer accounts, postings, holds and the suspense book. Every money change is one
// conditional statement (never read-modify-write in JavaScript), so several bank-adapter
// instances on one PostgreSQL stay correct:
// - a hold succeeds only while `balance - held >= amount`;
// - a credit only while the balance stays within int64;
// - a debit only from money held for it.
// Each change to a balance writes one posting in the same transaction, with a unique
// posting_key (e.g. `credit:<transfer id>`), so the same money can never be booked twice.
// booked_at never runs backwards within an account (it is at least the last one booked), so a
// statement's postings by time are also its postings by sequence.
import { newUlid } from "@clearmesh/bus";
import type { Queryable, Transaction } from "@clearmesh/store";
import { INT64_MAX } from "../validation.js";

export const POSTING_KINDS = {
  CASH_DEPOSIT: "cash deposit",
  MANDATE_PULL: "mandate pull",
  CARD_CAPTURE: "card capture",
  CARD_REFUND: "card refund",
  INCOMING_TRANSFER: "incoming transfer",
  SUSPENSE_BOOKED: "booked from suspense",
} as const;

export type PostingKind = keyof typeof POSTING_KINDS;
export type PostingDirectionText = "CREDIT" | "DEBIT";

export interface AccountRow {
  accountId: string;
  bankId: string;
  requestId: string;
  openedBy: string;
  currency: string;
  accountNumberSealed: string;
  maskedAccountNumber: string;
  holderNameSealed: string;
  holderEmailSealed: string;
  holderPhoneSealed: string;
  balanceMinor: bigint;
  heldMinor: bigint;
  createdAtMs: number;
}

export interface PostingRow {
  postingId: string;
  accountId: string;
  sequence: bigint;
  postingKey: string;
  kind: PostingKind;
  direction: PostingDirectionText;
  amountMinor: bigint;
  balanceAfterMinor: bigint;
  endToEndId: string;
  description: string;
  bookedAtMs: number;
}

/** What a new posting says; the repository adds the id, sequence, balance after and time. */
export interface NewPosting {
  accountId: string;
  postingKey: string;
  kind: PostingKind;
  amountMinor: bigint;
  endToEndId: string;
  nowMs: number;
}

const ACCOUNT_COLUMNS = `account_id, bank_id, request_id, opened_by, currency, account_number_sealed, masked_account_number,
  holder_name_sealed, holder_email_sealed, holder_phone_sealed, balance_minor, held_minor, created_at_ms`;

type AccountRecord = {
  account_id: string; bank_id: string; request_id: string; opened_by: string; currency: string; account_number_sealed: string;
  masked_account_number: string; holder_name_sealed: string; holder_email_sealed: string; holder_phone_sealed: string;
  balance_minor: bigint; held_minor: bigint; created_at_ms: bigint;
};

function accountOf(row: AccountRecord): AccountRow {
  return {
    accountId: row.account_id, bankId: row.bank_id, requestId: row.request_id, openedBy: row.opened_by, currency: row.currency,
    accountNumberSealed: row.account_number_sealed, maskedAccountNumber: row.masked_account_number, holderNameSealed: row.holder_name_sealed,
    holderEmailSealed: row.holder_email_sealed, holderPhoneSealed: row.holder_phone_sealed, balanceMinor: row.balance_minor,
    heldMinor: row.held_minor, createdAtMs: Number(row.created_at_ms),
  };
}

export async function findAccount(db: Queryable, accountId: string): Promise<AccountRow | undefined> {
  const [row] = await db.query<AccountRecord>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE account_id = $1`, [accountId]);
  return row === undefined ? undefined : accountOf(row);
}

export async function findAccountByRequest(db: Queryable, requestId: string): Promise<AccountRow | undefined> {
  const [row] = await db.query<AccountRecord>(`SELECT ${ACCOUNT_COLUMNS} FROM accounts WHERE request_id = $1`, [requestId]);
  return row === undefined ? undefined : accountOf(row);
}

/** The bank's next account sequence (1, 2, …): one upsert, safe under concurrency. */
export async function nextAccountSequence(tx: Transaction, bankId: string): Promise<bigint> {
  const [row] = await tx.query<{ last_sequence: bigint }>(
    `INSERT INTO bank_account_sequences (bank_id, last_sequence) VALUES ($1, 1)
     ON CONFLICT (bank_id) DO UPDATE SET last_sequence = bank_account_sequences.last_sequence + 1
     RETURNING last_sequence`,
    [bankId],
  );
  if (row === undefined) throw new Error(`no account sequence for ${bankId}`);
  return row.last_sequence;
}

export async function insertAccount(tx: Transaction, account: Omit<AccountRow, "balanceMinor" | "heldMinor">): Promise<void> {
  await tx.execute(
    `INSERT INTO accounts (account_id, bank_id, request_id, opened_by, currency, account_number_sealed, masked_account_number,
       holder_name_sealed, holder_email_sealed, holder_phone_sealed, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [account.accountId, account.bankId, account.requestId, account.openedBy, account.currency, account.accountNumberSealed,
      account.maskedAccountNumber, account.holderNameSealed, account.holderEmailSealed, account.holderPhoneSealed, BigInt(account.createdAtMs)],
  );
}

/** Holds `amountMinor` of the free balance; false (and nothing changed) when it is not there. */
export async function placeHold(tx: Transaction, accountId: string, amountMinor: bigint): Promise<boolean> {
  assertPositive(amountMinor);
  const { changes } = await tx.execute(
    "UPDATE accounts SET held_minor = held_minor + $2 WHERE account_id = $1 AND balance_minor - held_minor >= $2",
    [accountId, amountMinor],
  );
  return changes === 1;
}

/** Releases money held earlier; the hold must be there (else the books are wrong and the transaction aborts). */
export async function releaseHold(tx: Transaction, accountId: string, amountMinor: bigint): Promise<void> {
  if (amountMinor === 0n) return;
  assertPositive(amountMinor);
  const { changes } = await tx.execute(
    "UPDATE accounts SET held_minor = held_minor - $2 WHERE account_id = $1 AND held_minor >= $2",
    [accountId, amountMinor],
  );
  if (changes !== 1) throw new Error(`account ${accountId} does not hold ${amountMinor} to release`);
}

export type CreditOutcome = { kind: "booked"; posting: PostingRow } | { kind: "duplicate" } | { kind: "overflow" };

/** Credits the account and books the posting, unless a posting with that key exists. */
export async function credit(tx: Transaction, posting: NewPosting): Promise<CreditOutcome> {
  assertPositive(posting.amountMinor);
  if (await postingExists(tx, posting.postingKey)) return { kind: "duplicate" };
  const [row] = await tx.query<BalanceReturn>(
    `UPDATE accounts SET balance_minor = balance_minor + $2, posting_count = posting_count + 1,
       last_booked_at_ms = CASE WHEN last_booked_at_ms > $3 THEN last_booked_at_ms ELSE $3 END
     WHERE account_id = $1 AND balance_minor <= $4
     RETURNING balance_minor, held_minor, posting_count, last_booked_at_ms`,
    [posting.accountId, posting.amountMinor, BigInt(posting.nowMs), INT64_MAX - posting.amountMinor],
  );
  if (row === undefined) return { kind: "overflow" };
  return { kind: "booked", posting: await insertPosting(tx, posting, "CREDIT", row) };
}

/**
 * Turns a hold into a debit: the balance falls by `debitMinor` and the hold by `heldMinor`
 * (the whole hold; `heldMinor - debitMinor` is released). The hold must be there.
 */
export async function debitHeld(tx: Transaction, posting: NewPosting, heldMinor: bigint): Promise<PostingRow> {
  assertPositive(posting.amountMinor);
  if (posting.amountMinor > heldMinor) throw new Error(`a debit of ${posting.amountMinor} exceeds its hold of ${heldMinor}`);
  if (await postingExists(tx, posting.postingKey)) throw new Error(`posting ${posting.postingKey} was booked before`);
  const [row] = await tx.query<BalanceReturn>(
    `UPDATE accounts SET balance_minor = balance_minor - $2, held_minor = held_minor - $3, posting_count = posting_count + 1,
       last_booked_at_ms = CASE WHEN last_booked_at_ms > $4 THEN last_booked_at_ms ELSE $4 END
     WHERE account_id = $1 AND held_minor >= $3 AND balance_minor >= $2
     RETURNING balance_minor, held_minor, posting_count, last_booked_at_ms`,
    [posting.accountId, posting.amountMinor, heldMinor, BigInt(posting.nowMs)],
  );
  if (row === undefined) throw new Error(`account ${posting.accountId} does not hold ${heldMinor} to debit`);
  return insertPosting(tx, posting, "DEBIT", row);
}

type BalanceReturn = { balance_minor: bigint; held_minor: bigint; posting_count: bigint; last_booked_at_ms: bigint };

async function postingExists(tx: Transaction, postingKey: string): Promise<boolean> {
  const rows = await tx.query("SELECT 1 AS found FROM postings WHERE posting_key = $1", [postingKey]);
  return rows.length > 0;
}

async function insertPosting(tx: Transaction, posting: NewPosting, direction: PostingDirectionText, after: BalanceReturn): Promise<PostingRow> {
  // The invariants, asserted where they are made (the table's CHECKs say the same).
  if (after.balance_minor < 0n || after.held_minor < 0n || after.held_minor > after.balance_minor) {
    throw new Error(`account ${posting.accountId} would break its invariants (balance ${after.balance_minor}, held ${after.held_minor})`);
  }
  const row: PostingRow = {
    postingId: `pst-${newUlid()}`, accountId: posting.accountId, sequence: after.posting_count, postingKey: posting.postingKey,
    kind: posting.kind, direction, amountMinor: posting.amountMinor, balanceAfterMinor: after.balance_minor,
    endToEndId: posting.endToEndId, description: POSTING_KINDS[posting.kind], bookedAtMs: Number(after.last_booked_at_ms),
  };
  await tx.execute(
    `INSERT INTO postings (posting_id, account_id, sequence, posting_key, kind, direction, amount_minor, balance_after_minor,
       end_to_end_id, description, booked_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [row.postingId, row.accountId, row.sequence, row.postingKey, row.kind, row.direction, row.amountMinor, row.balanceAfterMinor,
      row.endToEndId, row.description, BigInt(row.bookedAtMs)],
  );
  return row;
}

type PostingRecord = {
  posting_id: string; account_id: string; sequence: bigint; posting_key: string; kind: string; direction: string; amount_minor: bigint;
  balance_after_minor: bigint; end_to_end_id: string; description: string; booked_at_ms: bigint;
};

const POSTING_COLUMNS = "posting_id, account_id, sequence, posting_key, kind, direction, amount_minor, balance_after_minor, end_to_end_id, description, booked_at_ms";

function postingOf(row: PostingRecord): PostingRow {
  return {
    postingId: row.posting_id, accountId: row.account_id, sequence: row.sequence, postingKey: row.posting_key, kind: row.kind as PostingKind,
    direction: row.direction as PostingDirectionText, amountMinor: row.amount_minor, balanceAfterMinor: row.balance_after_minor,
    endToEndId: row.end_to_end_id, description: row.description, bookedAtMs: Number(row.booked_at_ms),
  };
}

export async function findPostingByKey(db: Queryable, postingKey: string): Promise<PostingRow | undefined> {
  const [row] = await db.query<PostingRecord>(`SELECT ${POSTING_COLUMNS} FROM postings WHERE posting_key = $1`, [postingKey]);
  return row === undefined ? undefined : postingOf(row);
}

/** Postings booked in [fromMs, toMs), oldest first, at most `limit`. */
export async function postingsBetween(db: Queryable, accountId: string, fromMs: number, toMs: number, limit: number): Promise<PostingRow[]> {
  const rows = await db.query<PostingRecord>(
    `SELECT ${POSTING_COLUMNS} FROM postings WHERE account_id = $1 AND booked_at_ms >= $2 AND booked_at_ms < $3 ORDER BY sequence LIMIT $4`,
    [accountId, BigInt(fromMs), BigInt(toMs), limit],
  );
  return rows.map(postingOf);
}

/** The balance after the last posting booked before `ms` (0 before the first). */
export async function balanceBefore(db: Queryable, accountId: string, ms: number): Promise<bigint> {
  const [row] = await db.query<{ balance_after_minor: bigint }>(
    "SELECT balance_after_minor FROM postings WHERE account_id = $1 AND booked_at_ms < $2 ORDER BY sequence DESC LIMIT 1",
    [accountId, BigInt(ms)],
  );
  return row?.balance_after_minor ?? 0n;
}

export interface SuspensePosting {
  transferId: string;
  bankId: string;
  /** The participant that paid the transfer. */
  payerId: string;
  currency: string;
  amountMinor: bigint;
  reason: string;
  maskedPayeeReference: string;
  nowMs: number;
}

/** Keeps money the bank received for no account it can credit; once per transfer. */
export async function bookSuspense(tx: Transaction, entry: SuspensePosting): Promise<boolean> {
  const { changes } = await tx.execute(
    `INSERT INTO suspense_postings (transfer_id, bank_id, payer_id, currency, amount_minor, reason, masked_payee_reference, booked_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (transfer_id) DO NOTHING`,
    [entry.transferId, entry.bankId, entry.payerId, entry.currency, entry.amountMinor, entry.reason, entry.maskedPayeeReference, BigInt(entry.nowMs)],
  );
  return changes === 1;
}

/** A suspense posting as stored: what was booked, when, and the account it went to once resolved. */
export interface SuspenseRow extends Omit<SuspensePosting, "nowMs"> {
  bookedAtMs: number;
  resolvedAccountId: string;
  resolvedAtMs: number | null;
}

type SuspenseColumns = {
  transfer_id: string;
  bank_id: string;
  payer_id: string;
  currency: string;
  amount_minor: bigint;
  reason: string;
  masked_payee_reference: string;
  booked_at_ms: bigint;
  resolved_account_id: string;
  resolved_at_ms: bigint | null;
};

const suspenseRow = (row: SuspenseColumns): SuspenseRow => ({
  transferId: row.transfer_id, bankId: row.bank_id, payerId: row.payer_id, currency: row.currency, amountMinor: row.amount_minor, reason: row.reason,
  maskedPayeeReference: row.masked_payee_reference, bookedAtMs: Number(row.booked_at_ms), resolvedAccountId: row.resolved_account_id,
  resolvedAtMs: row.resolved_at_ms === null ? null : Number(row.resolved_at_ms),
});

export async function findSuspense(db: Queryable, transferId: string): Promise<SuspenseRow | undefined> {
  const [row] = await db.query<SuspenseColumns>("SELECT * FROM suspense_postings WHERE transfer_id = $1", [transferId]);
  return row ? suspenseRow(row) : undefined;
}

/** A bank's suspense postings after `afterTransferId`, by transfer id. */
export async function listSuspense(db: Queryable, bankId: string, options: { includeResolved: boolean; afterTransferId: string; limit: number }): Promise<SuspenseRow[]> {
  const rows = await db.query<SuspenseColumns>(
    `SELECT * FROM suspense_postings WHERE bank_id = $1 AND transfer_id > $2 ${options.includeResolved ? "" : "AND resolved_account_id = ''"}
     ORDER BY transfer_id LIMIT ${options.limit}`,
    [bankId, options.afterTransferId],
  );
  return rows.map(suspenseRow);
}

/** Marks an open suspense posting booked to `accountId`; false when it was not open. */
export async function resolveSuspense(tx: Transaction, transferId: string, accountId: string, nowMs: number): Promise<boolean> {
  const { changes } = await tx.execute(
    "UPDATE suspense_postings SET resolved_account_id = $2, resolved_at_ms = $3 WHERE transfer_id = $1 AND resolved_account_id = ''",
    [transferId, accountId, BigInt(nowMs)],
  );
  return changes === 1;
}

function assertPositive(amountMinor: bigint): void {
  if (amountMinor <= 0n) throw new Error(`an amount of ${amountMinor} cannot move money`);
}

// SQL of the settlement bank's books: settlement accounts and executed instructions. Every money
// change is a single conditional statement (never read-modify-write in JavaScript), so several
// bank-adapter instances on one PostgreSQL stay correct; on PostgreSQL a batch also locks its
// accounts (in one global order) before it reads them.
import type { Queryable, Transaction } from "@clearmesh/store";
import { accountKey, type BalanceChange, type Batch, type ExecutedInstruction } from "./books.js";

/** Rows one IN (…) list binds; well under SQLite's and PostgreSQL's parameter limits. */
const MAX_IN_LIST = 500;

export interface SettlementAccountRow {
  participantId: string;
  currency: string;
  balanceMinor: bigint;
}

/**
 * Adds `deltaMinor` (negative for a withdrawal) to an account, opening it at `deltaMinor` if
 * it does not exist; returns the balance after.
 */
export async function addToBalance(tx: Transaction, participantId: string, currency: string, deltaMinor: bigint): Promise<bigint> {
  const [row] = await tx.query<{ balance_minor: bigint }>(
    `INSERT INTO settlement_accounts (participant_id, currency, balance_minor) VALUES ($1, $2, $3)
     ON CONFLICT (participant_id, currency) DO UPDATE SET balance_minor = settlement_accounts.balance_minor + excluded.balance_minor
     RETURNING balance_minor`,
    [participantId, currency, deltaMinor],
  );
  if (row === undefined) throw new Error(`settlement account ${participantId} ${currency} was not written`);
  return row.balance_minor;
}

export async function findSettlementAccount(db: Queryable, participantId: string, currency: string): Promise<SettlementAccountRow | undefined> {
  const [row] = await db.query<{ balance_minor: bigint }>(
    "SELECT balance_minor FROM settlement_accounts WHERE participant_id = $1 AND currency = $2",
    [participantId, currency],
  );
  return row === undefined ? undefined : { participantId, currency, balanceMinor: row.balance_minor };
}

/**
 * Balances of the accounts the batch touches, by accountKey(). On PostgreSQL the rows stay
 * locked until the transaction ends, taken in (participant, currency) order so two batches
 * never deadlock; SQLite transactions are serialized already.
 */
export async function lockBalances(tx: Transaction, batch: Batch): Promise<Map<string, bigint>> {
  const participants = [...new Set(batch.instructions.map((instruction) => instruction.participantId))].sort();
  const wanted = new Set(batch.instructions.map((instruction) => accountKey(instruction.participantId, instruction.currency)));
  const lock = tx.dialect === "postgres" ? " FOR UPDATE" : "";
  const balances = new Map<string, bigint>();
  for (const chunk of chunks(participants)) {
    const rows = await tx.query<{ participant_id: string; currency: string; balance_minor: bigint }>(
      `SELECT participant_id, currency, balance_minor FROM settlement_accounts
       WHERE participant_id IN (${placeholders(chunk.length)}) ORDER BY participant_id, currency${lock}`,
      chunk,
    );
    for (const row of rows) {
      const key = accountKey(row.participant_id, row.currency);
      if (wanted.has(key)) balances.set(key, row.balance_minor);
    }
  }
  return balances;
}

/** The batch's instructions that were executed before, by instruction id. */
export async function executedInstructions(tx: Transaction, batch: Batch): Promise<Map<string, ExecutedInstruction>> {
  const executed = new Map<string, ExecutedInstruction>();
  for (const chunk of chunks(batch.instructions.map((instruction) => instruction.instructionId))) {
    const rows = await tx.query<{ instruction_id: string; window_id: string; participant_id: string; currency: string; net_minor: bigint; attempt: bigint }>(
      `SELECT instruction_id, window_id, participant_id, currency, net_minor, attempt FROM settlement_executions
       WHERE instruction_id IN (${placeholders(chunk.length)})`,
      chunk,
    );
    for (const row of rows) {
      executed.set(row.instruction_id, {
        instructionId: row.instruction_id, windowId: row.window_id, participantId: row.participant_id,
        currency: row.currency, netMinor: row.net_minor, attempt: Number(row.attempt),
      });
    }
  }
  return executed;
}

/**
 * Applies an execute decision and records every instruction as executed. Each update is
 * guarded by the balance the decision was made on (the rows are locked, so a mismatch is a
 * bug, and it aborts the transaction); the primary key of settlement_executions makes a second
 * execution of an instruction impossible whatever happens above.
 */
export async function executeBatch(tx: Transaction, batch: Batch, changes: readonly BalanceChange[], nowMs: number): Promise<void> {
  for (const entry of changes) {
    if (entry.opensAccount) {
      await tx.execute("INSERT INTO settlement_accounts (participant_id, currency, balance_minor) VALUES ($1, $2, $3)",
        [entry.participantId, entry.currency, entry.afterMinor]);
      continue;
    }
    const { changes: updated } = await tx.execute(
      "UPDATE settlement_accounts SET balance_minor = $3 WHERE participant_id = $1 AND currency = $2 AND balance_minor = $4",
      [entry.participantId, entry.currency, entry.afterMinor, entry.beforeMinor],
    );
    if (updated !== 1) throw new Error(`settlement account ${entry.participantId} ${entry.currency} changed under the batch of ${batch.windowId}`);
  }
  for (const instruction of batch.instructions) {
    await tx.execute(
      `INSERT INTO settlement_executions (instruction_id, window_id, participant_id, currency, net_minor, attempt, executed_at_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [instruction.instructionId, batch.windowId, instruction.participantId, instruction.currency, instruction.netMinor, batch.attempt, BigInt(nowMs)],
    );
  }
}

function placeholders(count: number): string {
  return Array.from({ length: count }, (_, index) => `$${index + 1}`).join(", ");
}

function chunks<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += MAX_IN_LIST) result.push(items.slice(start, start + MAX_IN_LIST));
  return result;
}

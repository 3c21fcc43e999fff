// The statements that write a frozen batch: accounts, transfers, windows and their nets,
// instructions, refusals, request answers, and every event into the outbox. Rows of one table
// go in multi-row statements (a few hundred rows each), so a batch of n transfers costs a
// handful of statements instead of several per transfer: on PostgreSQL each statement is a round
// trip, on SQLite a statement execution. The engine runs them with Store.writeBatch (on SQLite,
// on a writer thread).
import { outboxInserts } from "@clearmesh/bus";
import type { SqlValue, Statement } from "@clearmesh/store";
import type { SealedEvent } from "../events.js";
import type { FrozenBatch } from "./journal.js";

/** Bound parameters per statement stay far below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMETERS = 8_000;

const TRANSFER_COLUMNS = [
  "transfer_id", "kind", "payer_id", "payee_id", "currency", "amount_minor", "prepared_amount_minor", "fee_minor", "payee_currency",
  "payee_amount_minor", "fx_provider_id", "rate", "quote_id", "payer_reference", "payee_reference", "condition_hex", "state", "window_id",
  "created_at_ms", "expires_at_ms", "completed_at_ms",
];

/** `excluded.column` for every listed column: an upsert that takes the new row's values. */
const takeNew = (columns: readonly string[]) => columns.map((column) => `${column} = excluded.${column}`).join(", ");

const ACCOUNT_COLUMNS = ["participant_id", "currency", "settlement_balance_minor", "net_debit_cap_minor", "position_minor", "reserved_minor", "above_threshold"];
const ACCOUNTS_TAIL = `ON CONFLICT (participant_id, currency) DO UPDATE SET ${takeNew(["settlement_balance_minor", "net_debit_cap_minor", "position_minor", "reserved_minor", "above_threshold"])}`;
const TRANSFERS_TAIL = `ON CONFLICT (transfer_id) DO UPDATE SET ${takeNew(["amount_minor", "fee_minor", "payee_amount_minor", "state", "window_id", "completed_at_ms"])}`;
const WINDOW_COLUMNS = ["window_id", "sequence", "state", "opened_at_ms", "closed_at_ms", "settled_at_ms", "transfer_count", "attempt", "failure_reason", "failed_instruction_ids"];
const WINDOWS_TAIL = `ON CONFLICT (window_id) DO UPDATE SET ${takeNew(["state", "closed_at_ms", "settled_at_ms", "transfer_count", "attempt", "failure_reason", "failed_instruction_ids"])}`;

export function batchStatements(batch: FrozenBatch, events: readonly SealedEvent[], nowMs: number): Statement[] {
  const statements: Statement[] = [];
  const insertRows = (table: string, columns: readonly string[], rows: readonly SqlValue[][], tail: string) => statements.push(...insertStatements(table, columns, rows, tail));
  insertRows("accounts", ACCOUNT_COLUMNS,
    batch.accounts.map((account) => [
      account.participantId, account.currency, account.settlementBalance, account.netDebitCap, account.position, account.reserved, account.aboveThreshold ? 1n : 0n,
    ]),
    ACCOUNTS_TAIL);
  insertRows("transfers", TRANSFER_COLUMNS,
    batch.transfers.map((transfer) => [
      transfer.transferId, transfer.kind, transfer.payerId, transfer.payeeId, transfer.currency, transfer.amount, transfer.preparedAmount,
      transfer.fee, transfer.payeeCurrency, transfer.payeeAmount, transfer.fxProviderId, transfer.rate, transfer.quoteId,
      transfer.payerReference, transfer.payeeReference, transfer.conditionHex, BigInt(transfer.state), transfer.windowId,
      BigInt(transfer.createdAtMs), transfer.expiresAtMs === null ? null : BigInt(transfer.expiresAtMs),
      transfer.completedAtMs === null ? null : BigInt(transfer.completedAtMs),
    ]),
    TRANSFERS_TAIL);
  insertRows("windows", WINDOW_COLUMNS,
    batch.windows.map((window) => [
      window.windowId, BigInt(window.sequence), BigInt(window.state), BigInt(window.openedAtMs),
      window.closedAtMs === null ? null : BigInt(window.closedAtMs), window.settledAtMs === null ? null : BigInt(window.settledAtMs),
      window.transferCount, BigInt(window.attempt), window.failureReason, window.failedInstructionIds.join(","),
    ]),
    WINDOWS_TAIL);
  insertRows("settlement_instructions", ["instruction_id", "window_id", "participant_id", "currency", "net_minor"],
    batch.windows.flatMap((window) => window.instructions.map((instruction) => [
      instruction.instructionId, window.windowId, instruction.participantId, instruction.currency, instruction.netMinor,
    ])),
    "ON CONFLICT (instruction_id) DO NOTHING");
  insertRows("window_nets", ["window_id", "participant_id", "currency", "net_minor"],
    batch.windowNets.map((net) => [net.windowId, net.participantId, net.currency, net.netMinor]),
    "ON CONFLICT (window_id, participant_id, currency) DO UPDATE SET net_minor = excluded.net_minor");
  insertRows("transfer_failures", ["transfer_id", "terms", "reason", "message", "field", "created_at_ms"],
    batch.failures.map((failure) => [
      failure.terms.transferId, JSON.stringify(failure.terms, bigintJson), failure.reason, failure.message, failure.field ?? "", BigInt(nowMs),
    ]),
    "ON CONFLICT (transfer_id) DO NOTHING");
  insertRows("requests", ["method", "request_id", "fingerprint", "response", "reason", "message", "field", "created_at_ms"],
    batch.requests.map((request) => [
      request.method, request.requestId, request.fingerprint, request.response, request.reason, request.message, request.field, BigInt(nowMs),
    ]),
    "ON CONFLICT (method, request_id) DO NOTHING");
  for (const eventIds of chunks(batch.inboxDone, MAX_PARAMETERS)) {
    statements.push({ sql: `DELETE FROM settlement_inbox WHERE event_id IN (${eventIds.map((_, index) => `$${index + 1}`).join(", ")})`, params: eventIds });
  }
  // In the batch's event order: the relay publishes in outbox order.
  statements.push(...outboxInserts(events));
  return statements;
}

/**
 * `INSERT INTO table (columns) VALUES (…), (…) <tail>` for all rows, as few statements as the
 * parameter bound allows, rows in order. Within one statement no two rows may share a
 * conflict key (PostgreSQL refuses to update a row twice): the journal keys every map by it.
 */
function insertStatements(table: string, columns: readonly string[], rows: readonly SqlValue[][], tail: string): Statement[] {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  return chunks(rows, perStatement).map((group) => ({ sql: insertSql(table, columns, tail, group.length), params: group.flat() }));
}

/** Statement texts by table and row count, for the row counts batches usually have. */
const insertSqlCache = new Map<string, string[]>();
const CACHED_ROW_COUNTS = 64;

/**
 * `INSERT INTO table (columns) VALUES ($1, …), … tail` for `rowCount` rows. The same text for the
 * same shape, built once: no string building per batch, and the store's statement caches (keyed
 * by the text) find it by a hash V8 has already computed.
 */
function insertSql(table: string, columns: readonly string[], tail: string, rowCount: number): string {
  const key = `${table} ${tail}`;
  let byCount = insertSqlCache.get(key);
  if (!byCount) insertSqlCache.set(key, (byCount = []));
  const cached = byCount[rowCount];
  if (cached !== undefined) return cached;
  let next = 1;
  const tuples = Array.from({ length: rowCount }, () => `(${columns.map(() => `$${next++}`).join(", ")})`).join(", ");
  const sql = `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples} ${tail}`;
  if (rowCount <= CACHED_ROW_COUNTS) byCount[rowCount] = sql;
  return sql;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/** JSON with bigints as decimal strings (terms of refused transfers). */
export function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

// The statements that write a frozen batch: accounts, transfers, windows and their nets,
// instructions, refusals, request answers, and every event into the outbox. Rows of one table
// go in multi-row statements (a few hundred rows each), so a batch of n transfers costs a
// handful of statements instead of several per transfer: on PostgreSQL each statement is a round
// trip, on SQLite a statement execution. The engine runs them with Store.writeBatch (on SQLite,
// on a writer thread).
import { outboxInserts } from "@clearmesh/bus";
import { multiRowInsert, type MultiRowInsert, type SqlValue, type Statement } from "@clearmesh/store";
import type { SealedEvent } from "../events.js";
import type { FrozenBatch } from "./journal.js";

/** Bound parameters per statement stay far below SQLite's 32,766 and PostgreSQL's 65,535. */
const MAX_PARAMETERS = 8_000;

/** `excluded.column` for every listed column: an upsert that takes the new row's values. */
const takeNew = (columns: readonly string[]) => columns.map((column) => `${column} = excluded.${column}`).join(", ");

const ACCOUNTS = multiRowInsert("accounts",
  ["participant_id", "currency", "settlement_balance_minor", "net_debit_cap_minor", "position_minor", "reserved_minor", "above_threshold"],
  `ON CONFLICT (participant_id, currency) DO UPDATE SET ${takeNew(["settlement_balance_minor", "net_debit_cap_minor", "position_minor", "reserved_minor", "above_threshold"])}`);
const TRANSFERS = multiRowInsert("transfers",
  [
    "transfer_id", "kind", "payer_id", "payee_id", "currency", "amount_minor", "prepared_amount_minor", "fee_minor", "payee_currency",
    "payee_amount_minor", "fx_provider_id", "rate", "quote_id", "payer_reference", "payee_reference", "condition_hex", "state", "window_id",
    "created_at_ms", "expires_at_ms", "completed_at_ms",
  ],
  `ON CONFLICT (transfer_id) DO UPDATE SET ${takeNew(["amount_minor", "fee_minor", "payee_amount_minor", "state", "window_id", "completed_at_ms"])}`);
const WINDOWS = multiRowInsert("windows",
  ["window_id", "sequence", "state", "opened_at_ms", "closed_at_ms", "settled_at_ms", "transfer_count", "attempt", "failure_reason", "failed_instruction_ids"],
  `ON CONFLICT (window_id) DO UPDATE SET ${takeNew(["state", "closed_at_ms", "settled_at_ms", "transfer_count", "attempt", "failure_reason", "failed_instruction_ids"])}`);
const INSTRUCTIONS = multiRowInsert("settlement_instructions", ["instruction_id", "window_id", "participant_id", "currency", "net_minor"],
  "ON CONFLICT (instruction_id) DO NOTHING");
const WINDOW_NETS = multiRowInsert("window_nets", ["window_id", "participant_id", "currency", "net_minor"],
  "ON CONFLICT (window_id, participant_id, currency) DO UPDATE SET net_minor = excluded.net_minor");
const FAILURES = multiRowInsert("transfer_failures", ["transfer_id", "terms", "reason", "message", "field", "created_at_ms"],
  "ON CONFLICT (transfer_id) DO NOTHING");
const REQUESTS = multiRowInsert("requests", ["method", "request_id", "fingerprint", "response", "reason", "message", "field", "created_at_ms"],
  "ON CONFLICT (method, request_id) DO NOTHING");

export function batchStatements(batch: FrozenBatch, events: readonly SealedEvent[], nowMs: number): Statement[] {
  const statements: Statement[] = [];
  const insertRows = (insert: MultiRowInsert, rows: readonly SqlValue[][]) => statements.push(...insertStatements(insert, rows));
  insertRows(ACCOUNTS,
    batch.accounts.map((account) => [
      account.participantId, account.currency, account.settlementBalance, account.netDebitCap, account.position, account.reserved, account.aboveThreshold ? 1n : 0n,
    ]));
  insertRows(TRANSFERS,
    batch.transfers.map((transfer) => [
      transfer.transferId, transfer.kind, transfer.payerId, transfer.payeeId, transfer.currency, transfer.amount, transfer.preparedAmount,
      transfer.fee, transfer.payeeCurrency, transfer.payeeAmount, transfer.fxProviderId, transfer.rate, transfer.quoteId,
      transfer.payerReference, transfer.payeeReference, transfer.conditionHex, BigInt(transfer.state), transfer.windowId,
      BigInt(transfer.createdAtMs), transfer.expiresAtMs === null ? null : BigInt(transfer.expiresAtMs),
      transfer.completedAtMs === null ? null : BigInt(transfer.completedAtMs),
    ]));
  insertRows(WINDOWS,
    batch.windows.map((window) => [
      window.windowId, BigInt(window.sequence), BigInt(window.state), BigInt(window.openedAtMs),
      window.closedAtMs === null ? null : BigInt(window.closedAtMs), window.settledAtMs === null ? null : BigInt(window.settledAtMs),
      window.transferCount, BigInt(window.attempt), window.failureReason, window.failedInstructionIds.join(","),
    ]));
  insertRows(INSTRUCTIONS,
    batch.windows.flatMap((window) => window.instructions.map((instruction) => [
      instruction.instructionId, window.windowId, instruction.participantId, instruction.currency, instruction.netMinor,
    ])));
  insertRows(WINDOW_NETS, batch.windowNets.map((net) => [net.windowId, net.participantId, net.currency, net.netMinor]));
  insertRows(FAILURES,
    batch.failures.map((failure) => [
      failure.terms.transferId, JSON.stringify(failure.terms, bigintJson), failure.reason, failure.message, failure.field ?? "", BigInt(nowMs),
    ]));
  insertRows(REQUESTS,
    batch.requests.map((request) => [
      request.method, request.requestId, request.fingerprint, request.response, request.reason, request.message, request.field, BigInt(nowMs),
    ]));
  for (const eventIds of chunks(batch.inboxDone, MAX_PARAMETERS)) {
    statements.push({ sql: `DELETE FROM settlement_inbox WHERE event_id IN (${eventIds.map((_, index) => `$${index + 1}`).join(", ")})`, params: eventIds });
  }
  // In the batch's event order: the relay publishes in outbox order.
  statements.push(...outboxInserts(events));
  return statements;
}

/**
 * All rows in as few statements as the parameter bound allows, rows in order. Within one
 * statement no two rows may share a conflict key (PostgreSQL refuses to update a row twice): the
 * journal keys every map by it.
 */
function insertStatements(insert: MultiRowInsert, rows: readonly SqlValue[][]): Statement[] {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / insert.columns.length));
  return chunks(rows, perStatement).map((group) => ({ sql: insert.sql(group.length), params: group.flat() }));
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

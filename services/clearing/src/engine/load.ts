// Rebuilds the ledger's memory from the store: at start, after taking over from a dead
// active instance, and after a failed batch.
import { SettlementWindowState, TransferState } from "@clearmesh/contracts";
import type { Queryable } from "@clearmesh/store";
import { newWindow, type Ledger } from "./ledger.js";
import { accountKey, type TransferKind, type TransferRecord, type WindowRecord } from "./types.js";

type AccountRow = { participant_id: string; currency: string; settlement_balance_minor: bigint; net_debit_cap_minor: bigint; position_minor: bigint; reserved_minor: bigint; above_threshold: bigint };
type WindowRow = { window_id: string; sequence: bigint; state: bigint; opened_at_ms: bigint; closed_at_ms: bigint | null; settled_at_ms: bigint | null; transfer_count: bigint; attempt: bigint; failure_reason: string; failed_instruction_ids: string };
type NetRow = { window_id: string; participant_id: string; currency: string; net_minor: bigint };
type InstructionRow = { instruction_id: string; window_id: string; participant_id: string; currency: string; net_minor: bigint };
export type TransferRow = {
  transfer_id: string; kind: string; payer_id: string; payee_id: string; currency: string; amount_minor: bigint; prepared_amount_minor: bigint;
  fee_minor: bigint; payee_currency: string; payee_amount_minor: bigint; fx_provider_id: string; rate: string; quote_id: string;
  payer_reference: string; payee_reference: string; condition_hex: string; state: bigint; window_id: string; created_at_ms: bigint;
  expires_at_ms: bigint | null; completed_at_ms: bigint | null;
};

export async function loadLedger(db: Queryable, ledger: Ledger, nowMs: number): Promise<{ createdFirstWindow: boolean }> {
  for (const row of await db.query<AccountRow>("SELECT * FROM accounts")) {
    ledger.accounts.set(accountKey(row.participant_id, row.currency), {
      participantId: row.participant_id, currency: row.currency, settlementBalance: row.settlement_balance_minor,
      netDebitCap: row.net_debit_cap_minor, position: row.position_minor, reserved: row.reserved_minor, aboveThreshold: row.above_threshold === 1n,
    });
  }
  for (const row of await db.query<TransferRow>("SELECT * FROM transfers WHERE state = $1", [BigInt(TransferState.RESERVED)])) {
    ledger.pending.set(row.transfer_id, transferFromRow(row));
  }
  const windows = await db.query<WindowRow>("SELECT * FROM windows WHERE state IN ($1, $2, $3, $4) ORDER BY sequence", [
    BigInt(SettlementWindowState.OPEN), BigInt(SettlementWindowState.CLOSED), BigInt(SettlementWindowState.SETTLING), BigInt(SettlementWindowState.FAILED),
  ]);
  let open: WindowRecord | undefined;
  for (const row of windows) {
    const window = await windowFromRow(db, row);
    if (window.state === SettlementWindowState.OPEN) open = window;
    else ledger.unsettled.set(window.windowId, window);
  }
  if (open) {
    ledger.openWindow = open;
    return { createdFirstWindow: false };
  }
  const [last] = await db.query<{ sequence: bigint }>("SELECT MAX(sequence) AS sequence FROM windows");
  ledger.openWindow = newWindow(Number(last?.sequence ?? 0n) + 1, nowMs);
  return { createdFirstWindow: true };
}

export async function windowFromRow(db: Queryable, row: WindowRow): Promise<WindowRecord> {
  const nets = new Map<string, bigint>();
  for (const net of await db.query<NetRow>("SELECT * FROM window_nets WHERE window_id = $1", [row.window_id])) {
    nets.set(accountKey(net.participant_id, net.currency), net.net_minor);
  }
  const instructions = (await db.query<InstructionRow>("SELECT * FROM settlement_instructions WHERE window_id = $1 ORDER BY currency, participant_id", [row.window_id]))
    .map((instruction) => ({ instructionId: instruction.instruction_id, participantId: instruction.participant_id, currency: instruction.currency, netMinor: instruction.net_minor }));
  return {
    windowId: row.window_id, sequence: Number(row.sequence), state: Number(row.state), openedAtMs: Number(row.opened_at_ms),
    closedAtMs: row.closed_at_ms === null ? null : Number(row.closed_at_ms), settledAtMs: row.settled_at_ms === null ? null : Number(row.settled_at_ms),
    nets, transferCount: row.transfer_count, instructions, attempt: Number(row.attempt), failureReason: row.failure_reason,
    failedInstructionIds: row.failed_instruction_ids === "" ? [] : row.failed_instruction_ids.split(","),
  };
}

export async function findWindow(db: Queryable, windowId: string): Promise<WindowRecord | undefined> {
  const [row] = await db.query<WindowRow>("SELECT * FROM windows WHERE window_id = $1", [windowId]);
  return row ? windowFromRow(db, row) : undefined;
}

export function transferFromRow(row: TransferRow): TransferRecord {
  return {
    kind: row.kind as TransferKind, transferId: row.transfer_id, payerId: row.payer_id, payeeId: row.payee_id, currency: row.currency,
    amount: row.amount_minor, preparedAmount: row.prepared_amount_minor, fee: row.fee_minor, payeeCurrency: row.payee_currency,
    payeeAmount: row.payee_amount_minor, fxProviderId: row.fx_provider_id, rate: row.rate, quoteId: row.quote_id,
    payerReference: row.payer_reference, payeeReference: row.payee_reference, conditionHex: row.condition_hex,
    state: Number(row.state), windowId: row.window_id, createdAtMs: Number(row.created_at_ms),
    expiresAtMs: row.expires_at_ms === null ? null : Number(row.expires_at_ms),
    completedAtMs: row.completed_at_ms === null ? null : Number(row.completed_at_ms),
  };
}

// Writes a frozen batch in the caller's transaction: accounts, transfers, windows and their
// nets, instructions, refusals, request answers, and every event into the outbox.
import type { Transaction } from "@clearmesh/store";
import { enqueueEvent } from "@clearmesh/bus";
import type { SealedEvent } from "../events.js";
import type { FrozenBatch } from "./journal.js";

/** `events` are the batch's events, already signed (signing waits for no lock). */
export async function writeBatch(tx: Transaction, batch: FrozenBatch, events: readonly SealedEvent[], nowMs: number): Promise<void> {
  for (const account of batch.accounts) {
    await tx.execute(
      `INSERT INTO accounts (participant_id, currency, settlement_balance_minor, net_debit_cap_minor, position_minor, reserved_minor, above_threshold)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (participant_id, currency) DO UPDATE SET settlement_balance_minor = excluded.settlement_balance_minor,
         net_debit_cap_minor = excluded.net_debit_cap_minor, position_minor = excluded.position_minor,
         reserved_minor = excluded.reserved_minor, above_threshold = excluded.above_threshold`,
      [account.participantId, account.currency, account.settlementBalance, account.netDebitCap, account.position, account.reserved, account.aboveThreshold ? 1n : 0n],
    );
  }
  for (const transfer of batch.transfers) {
    await tx.execute(
      `INSERT INTO transfers (transfer_id, kind, payer_id, payee_id, currency, amount_minor, prepared_amount_minor, fee_minor, payee_currency,
         payee_amount_minor, fx_provider_id, rate, quote_id, payer_reference, payee_reference, condition_hex, state, window_id,
         created_at_ms, expires_at_ms, completed_at_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
       ON CONFLICT (transfer_id) DO UPDATE SET amount_minor = excluded.amount_minor, fee_minor = excluded.fee_minor,
         payee_amount_minor = excluded.payee_amount_minor, state = excluded.state, window_id = excluded.window_id,
         completed_at_ms = excluded.completed_at_ms`,
      [
        transfer.transferId, transfer.kind, transfer.payerId, transfer.payeeId, transfer.currency, transfer.amount, transfer.preparedAmount,
        transfer.fee, transfer.payeeCurrency, transfer.payeeAmount, transfer.fxProviderId, transfer.rate, transfer.quoteId,
        transfer.payerReference, transfer.payeeReference, transfer.conditionHex, BigInt(transfer.state), transfer.windowId,
        BigInt(transfer.createdAtMs), transfer.expiresAtMs === null ? null : BigInt(transfer.expiresAtMs),
        transfer.completedAtMs === null ? null : BigInt(transfer.completedAtMs),
      ],
    );
  }
  for (const window of batch.windows) {
    await tx.execute(
      `INSERT INTO windows (window_id, sequence, state, opened_at_ms, closed_at_ms, settled_at_ms, transfer_count, attempt, failure_reason, failed_instruction_ids)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (window_id) DO UPDATE SET state = excluded.state, closed_at_ms = excluded.closed_at_ms, settled_at_ms = excluded.settled_at_ms,
         transfer_count = excluded.transfer_count, attempt = excluded.attempt, failure_reason = excluded.failure_reason,
         failed_instruction_ids = excluded.failed_instruction_ids`,
      [
        window.windowId, BigInt(window.sequence), BigInt(window.state), BigInt(window.openedAtMs),
        window.closedAtMs === null ? null : BigInt(window.closedAtMs), window.settledAtMs === null ? null : BigInt(window.settledAtMs),
        window.transferCount, BigInt(window.attempt), window.failureReason, window.failedInstructionIds.join(","),
      ],
    );
    for (const instruction of window.instructions) {
      await tx.execute(
        `INSERT INTO settlement_instructions (instruction_id, window_id, participant_id, currency, net_minor) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (instruction_id) DO NOTHING`,
        [instruction.instructionId, window.windowId, instruction.participantId, instruction.currency, instruction.netMinor],
      );
    }
  }
  for (const net of batch.windowNets) {
    await tx.execute(
      `INSERT INTO window_nets (window_id, participant_id, currency, net_minor) VALUES ($1, $2, $3, $4)
       ON CONFLICT (window_id, participant_id, currency) DO UPDATE SET net_minor = excluded.net_minor`,
      [net.windowId, net.participantId, net.currency, net.netMinor],
    );
  }
  for (const failure of batch.failures) {
    await tx.execute(
      `INSERT INTO transfer_failures (transfer_id, terms, reason, message, field, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (transfer_id) DO NOTHING`,
      [failure.terms.transferId, JSON.stringify(failure.terms, bigintJson), failure.reason, failure.message, failure.field ?? "", BigInt(nowMs)],
    );
  }
  for (const request of batch.requests) {
    await tx.execute(
      `INSERT INTO requests (method, request_id, fingerprint, response, reason, message, field, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (method, request_id) DO NOTHING`,
      [request.method, request.requestId, request.fingerprint, request.response, request.reason, request.message, request.field, BigInt(nowMs)],
    );
  }
  for (const eventId of batch.inboxDone) {
    await tx.execute("DELETE FROM settlement_inbox WHERE event_id = $1", [eventId]);
  }
  for (const event of events) await enqueueEvent(tx, event.bytes, event.id, event.subject);
}

/** JSON with bigints as decimal strings (terms of refused transfers). */
export function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

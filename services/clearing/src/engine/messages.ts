// Engine records as contract messages (answers and event payloads).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  PositionSchema, SettlementInstructionSchema, SettlementInstructionState, SettlementWindowSchema, SettlementWindowState, TransferSchema,
  type Position, type SettlementWindow, type Transfer,
} from "@clearmesh/contracts";
import { netPositions, type Ledger } from "./ledger.js";
import type { AccountState, TransferRecord, WindowRecord } from "./types.js";

export function transferMessage(record: TransferRecord): Transfer {
  return create(TransferSchema, {
    transferId: record.transferId,
    payerId: record.payerId,
    payeeId: record.payeeId,
    amount: { currency: record.currency, amountMinor: record.amount },
    fee: { currency: record.currency, amountMinor: record.fee },
    state: record.state,
    windowId: record.windowId,
    payerReference: record.payerReference,
    payeeReference: record.payeeReference,
    quoteId: record.quoteId,
    createdAt: timestampFromMs(record.createdAtMs),
    expiresAt: record.expiresAtMs === null ? undefined : timestampFromMs(record.expiresAtMs),
    completedAt: record.completedAtMs === null ? undefined : timestampFromMs(record.completedAtMs),
    payeeAmount: { currency: record.payeeCurrency, amountMinor: record.payeeAmount },
    fxProviderId: record.fxProviderId,
    rate: record.rate,
    condition: record.conditionHex ? Buffer.from(record.conditionHex, "hex") : new Uint8Array(0),
    preparedAmount: { currency: record.currency, amountMinor: record.preparedAmount },
  });
}

export function positionMessage(account: AccountState, ledger: Ledger): Position {
  return create(PositionSchema, {
    participantId: account.participantId,
    currency: account.currency,
    settlementBalanceMinor: account.settlementBalance,
    netDebitCapMinor: account.netDebitCap,
    positionMinor: account.position,
    reservedMinor: account.reserved,
    freeBalanceMinor: ledger.freeBalance(account),
  });
}

export function windowMessage(window: WindowRecord, options: { withInstructions?: boolean } = {}): SettlementWindow {
  const failed = new Set(window.failedInstructionIds);
  const executed = window.state === SettlementWindowState.SETTLED;
  return create(SettlementWindowSchema, {
    windowId: window.windowId,
    state: window.state,
    netPositions: window.state === SettlementWindowState.OPEN ? [] : netPositions(window),
    openedAt: timestampFromMs(window.openedAtMs),
    closedAt: window.closedAtMs === null ? undefined : timestampFromMs(window.closedAtMs),
    settledAt: window.settledAtMs === null ? undefined : timestampFromMs(window.settledAtMs),
    instructions: (options.withInstructions ?? true) ? window.instructions.map((instruction) => create(SettlementInstructionSchema, {
      ...instruction,
      windowId: window.windowId,
      state: executed ? SettlementInstructionState.EXECUTED : failed.has(instruction.instructionId) ? SettlementInstructionState.FAILED : SettlementInstructionState.ISSUED,
    })) : [],
    failureReason: window.failureReason,
    failedInstructionIds: window.failedInstructionIds,
    transferCount: window.transferCount,
    attempt: window.attempt,
  });
}

// What one batch changed: the rows to write and the events to send, collected while the
// ledger applies operations in memory and frozen (copied) when the batch is cut, so a later
// batch's changes can never leak into this batch's transaction.
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  NetDebitCapChangedSchema, PositionThresholdCrossedSchema, SettlementInstructionsIssuedSchema, SettlementWindowClosedSchema,
  SettlementWindowFailedSchema, SettlementWindowSettledSchema, TransferAbortedSchema, TransferCommittedSchema, TransferExpiredSchema,
  TransferPreparedSchema,
} from "@clearmesh/contracts";
import { transferMessage, windowMessage } from "./messages.js";
import { accountKey, type AccountState, type TransferFailure, type TransferRecord, type WindowRecord } from "./types.js";

export interface PendingEvent {
  subject: string;
  schema: DescMessage;
  message: MessageShape<DescMessage>;
}

/** A stored answer to an idempotent request (liquidity, caps, windows, rates). */
export interface RequestRecord {
  requestId: string;
  method: string;
  fingerprint: string;
  /** Binary encoding of the answer, or empty with `reason` set for a refusal. */
  response: Uint8Array;
  reason: string;
  message: string;
  field: string;
}

export interface FrozenBatch {
  accounts: AccountState[];
  transfers: TransferRecord[];
  windows: Array<Omit<WindowRecord, "nets">>;
  windowNets: Array<{ windowId: string; participantId: string; currency: string; netMinor: bigint }>;
  events: PendingEvent[];
  failures: TransferFailure[];
  requests: RequestRecord[];
  /** Settlement inbox rows applied by this batch. */
  inboxDone: string[];
  /** Transfers written. */
  size: number;
}

type TransferEvent = "prepared" | "committed" | "aborted" | "expired";
type WindowEvent = "closed" | "issued" | "settled" | "failed";

export class Journal {
  /** Counts every record call, so the engine can tell whether an operation journaled anything. */
  changes = 0;
  private readonly accounts = new Map<string, AccountState>();
  private readonly transfers = new Map<string, TransferRecord>();
  private readonly windows = new Map<string, WindowRecord>();
  private readonly windowNets = new Map<string, { window: WindowRecord; key: string }>();
  private readonly events: PendingEvent[] = [];
  private readonly failures: TransferFailure[] = [];
  private readonly requests: RequestRecord[] = [];
  private readonly inbox: string[] = [];

  /** Events journaled so far, in order (the engine signs them as they come). */
  eventsFrom(start: number): readonly PendingEvent[] {
    return this.events.slice(start);
  }

  get eventCount(): number {
    return this.events.length;
  }

  get isEmpty(): boolean {
    return this.accounts.size + this.transfers.size + this.windows.size + this.events.length + this.failures.length + this.requests.length + this.inbox.length === 0;
  }

  account(account: AccountState): void {
    this.changes += 1;
    this.accounts.set(accountKey(account.participantId, account.currency), account);
  }

  transfer(transfer: TransferRecord, event?: TransferEvent, reason = ""): void {
    this.changes += 1;
    this.transfers.set(transfer.transferId, transfer);
    if (!event) return;
    const message = transferMessage(transfer);
    const payload = { transferId: transfer.transferId, transfer: message };
    const schemas = { prepared: TransferPreparedSchema, committed: TransferCommittedSchema, aborted: TransferAbortedSchema, expired: TransferExpiredSchema };
    const init = event === "aborted" ? { ...payload, reason } : payload;
    this.event(`clearmesh.clearing.transfer.${event}`, schemas[event], create(schemas[event] as typeof TransferAbortedSchema, init));
  }

  window(window: WindowRecord, event?: WindowEvent): void {
    this.changes += 1;
    this.windows.set(window.windowId, window);
    if (event === "closed") this.event("clearmesh.settlement.window.closed", SettlementWindowClosedSchema, create(SettlementWindowClosedSchema, { window: windowMessage(window) }));
    if (event === "settled") this.event("clearmesh.settlement.window.settled", SettlementWindowSettledSchema, create(SettlementWindowSettledSchema, { window: windowMessage(window) }));
    if (event === "failed") this.event("clearmesh.settlement.window.failed", SettlementWindowFailedSchema, create(SettlementWindowFailedSchema, { window: windowMessage(window) }));
    if (event === "issued") {
      const message = windowMessage(window);
      this.event("clearmesh.settlement.instruction.issued", SettlementInstructionsIssuedSchema,
        create(SettlementInstructionsIssuedSchema, { windowId: window.windowId, instructions: message.instructions, attempt: window.attempt }));
    }
  }

  windowNet(window: WindowRecord, key: string): void {
    this.changes += 1;
    this.windowNets.set(`${window.windowId}\u0000${key}`, { window, key });
  }

  capChanged(account: AccountState, previousCap: bigint, cause: string): void {
    this.event("clearmesh.clearing.position.cap_changed", NetDebitCapChangedSchema, create(NetDebitCapChangedSchema, {
      participantId: account.participantId, currency: account.currency, previousCapMinor: previousCap, netDebitCapMinor: account.netDebitCap, cause,
    }));
  }

  thresholdCrossed(account: AccountState, thresholdPercent: number): void {
    this.event("clearmesh.clearing.position.threshold_crossed", PositionThresholdCrossedSchema, create(PositionThresholdCrossedSchema, {
      participantId: account.participantId, currency: account.currency, exposureMinor: account.position + account.reserved,
      netDebitCapMinor: account.netDebitCap, thresholdPercent, above: account.aboveThreshold,
    }));
  }

  event<Desc extends DescMessage>(subject: string, schema: Desc, message: MessageShape<Desc>): void {
    this.changes += 1;
    this.events.push({ subject, schema, message: message as MessageShape<DescMessage> });
  }

  failure(failure: TransferFailure): void {
    this.changes += 1;
    this.failures.push(failure);
  }

  request(record: RequestRecord): void {
    this.changes += 1;
    this.requests.push(record);
  }

  inboxDone(eventId: string): void {
    this.changes += 1;
    this.inbox.push(eventId);
  }

  /** Copies every changed record as it is now. */
  freeze(): FrozenBatch {
    return {
      accounts: [...this.accounts.values()].map((account) => ({ ...account })),
      transfers: [...this.transfers.values()].map((transfer) => ({ ...transfer })),
      windows: [...this.windows.values()].map(({ nets: _nets, ...window }) => ({ ...window, instructions: [...window.instructions], failedInstructionIds: [...window.failedInstructionIds] })),
      windowNets: [...this.windowNets.values()].map(({ window, key }) => {
        const [participantId, currency] = key.split("\u0000") as [string, string];
        return { windowId: window.windowId, participantId, currency, netMinor: window.nets.get(key) ?? 0n };
      }),
      events: [...this.events],
      failures: [...this.failures],
      requests: [...this.requests],
      inboxDone: [...this.inbox],
      size: this.transfers.size,
    };
  }
}

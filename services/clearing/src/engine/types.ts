// The clearing engine's in-memory records. Money is bigint minor units; times are ms.
import type { ParticipantKind, ParticipantStatus, SettlementWindowState, TransferState } from "@clearmesh/contracts";
import type { ClearingReason } from "../errors.js";

export interface AccountState {
  participantId: string;
  currency: string;
  settlementBalance: bigint;
  netDebitCap: bigint;
  /** Owed to the scheme from transfers not yet settled (positive = owes). */
  position: bigint;
  /** Prepared, not yet committed, as payer. */
  reserved: bigint;
  /** Whether position + reserved is at or above the threshold share of the cap. */
  aboveThreshold: boolean;
}

export type TransferKind = "create" | "prepare";

/** What a transfer request asked for: compared field by field on a repeat (PROTOCOL.md §9). */
export interface TransferTerms {
  kind: TransferKind;
  transferId: string;
  payerId: string;
  payeeId: string;
  currency: string;
  amount: bigint;
  quoteId: string;
  payerReference: string;
  payeeReference: string;
  /** Only prepare: when the reservation lapses. */
  expiresAtMs: number | null;
  /** Only prepare: SHA-256 of the fulfilment, hex; "" without a hash lock. */
  conditionHex: string;
}

/** Pricing of a transfer, fixed at prepare (from a quote or the fee schedule). */
export interface TransferPricing {
  fee: bigint;
  payeeCurrency: string;
  payeeAmount: bigint;
  fxProviderId: string;
  rate: string;
}

export interface TransferRecord extends TransferTerms, TransferPricing {
  state: TransferState;
  /** The amount reserved at prepare. */
  preparedAmount: bigint;
  /** The window of the commit; "" until committed. */
  windowId: string;
  createdAtMs: number;
  completedAtMs: number | null;
}

/** A request the engine refused for a business reason: the id stays refused (PROTOCOL.md §9). */
export interface TransferFailure {
  terms: TransferTerms;
  reason: ClearingReason;
  message: string;
  field?: string;
}

export interface NetEntry {
  participantId: string;
  currency: string;
  netMinor: bigint;
}

export interface InstructionRecord extends NetEntry {
  instructionId: string;
}

export interface WindowRecord {
  windowId: string;
  sequence: number;
  state: SettlementWindowState;
  openedAtMs: number;
  closedAtMs: number | null;
  settledAtMs: number | null;
  /** Net position deltas of transfers committed in the window, by account key. */
  nets: Map<string, bigint>;
  transferCount: bigint;
  instructions: InstructionRecord[];
  attempt: number;
  failureReason: string;
  failedInstructionIds: string[];
}

/** What the engine needs to know about participants (clearing's directory). */
export interface ParticipantView {
  get(participantId: string): { kind: ParticipantKind; status: ParticipantStatus; currencies: readonly string[] } | undefined;
}

export class LedgerError extends Error {
  constructor(readonly reason: ClearingReason, message: string, readonly field?: string) {
    super(message);
    this.name = "LedgerError";
  }
}

export function accountKey(participantId: string, currency: string): string {
  return `${participantId}\u0000${currency}`;
}

// The clearing ledger: positions, liquidity, two-phase transfers and settlement windows, in
// memory, pure and synchronous (ARCHITECTURE.md "Positions, by sign"). Every operation checks
// everything first and then changes state, so a refused operation changes nothing. Each change
// is recorded in the Journal the engine persists in its next batch.
import { ParticipantStatus, SettlementWindowState, TransferState } from "@clearmesh/contracts";
import type { Journal } from "./journal.js";
import {
  LedgerError, accountKey, type AccountState, type InstructionRecord, type NetEntry, type ParticipantView,
  type TransferRecord, type WindowRecord,
} from "./types.js";

export const INT64_MAX = 2n ** 63n - 1n;
/** The hub's fee account: the operator collects fees (PROTOCOL.md §2). */
export const FEE_ACCOUNT = "operator";

export interface LedgerPolicy {
  /** Share of the cap, in percent, at which a position.threshold_crossed event is sent. */
  thresholdPercent: number;
}

export class Ledger {
  readonly accounts = new Map<string, AccountState>();
  readonly pending = new Map<string, TransferRecord>();
  /** Closed windows not yet settled, by id. */
  readonly unsettled = new Map<string, WindowRecord>();
  openWindow!: WindowRecord;

  constructor(
    private readonly participants: ParticipantView,
    private readonly policy: LedgerPolicy,
    private journal: Journal,
  ) {}

  /** The engine hands each batch its own journal. */
  useJournal(journal: Journal): void {
    this.journal = journal;
  }

  account(participantId: string, currency: string): AccountState {
    const key = accountKey(participantId, currency);
    let account = this.accounts.get(key);
    if (!account) {
      account = { participantId, currency, settlementBalance: 0n, netDebitCap: 0n, position: 0n, reserved: 0n, aboveThreshold: false };
      this.accounts.set(key, account);
    }
    return account;
  }

  // ---- liquidity ------------------------------------------------------------------------

  deposit(participantId: string, currency: string, amount: bigint): AccountState {
    this.requireCurrency(participantId, currency, "participant_id");
    const account = this.account(participantId, currency);
    const balance = account.settlementBalance + amount;
    if (balance > INT64_MAX) throw new LedgerError("AMOUNT_OVERFLOW", "the settlement balance would exceed int64", "amount.amount_minor");
    account.settlementBalance = balance;
    this.journal.account(account);
    return account;
  }

  /** Takes liquidity out, up to the free balance; a cap above the new balance is lowered to it. */
  withdraw(participantId: string, currency: string, amount: bigint): AccountState {
    this.requireCurrency(participantId, currency, "participant_id");
    const account = this.account(participantId, currency);
    const free = this.freeBalance(account);
    if (amount > free) {
      throw new LedgerError("INSUFFICIENT_FUNDS", `${participantId} has ${free} ${currency} minor units free; ${amount} asked`, "amount.amount_minor");
    }
    account.settlementBalance -= amount;
    this.clampCap(account, "withdrawal");
    this.checkThreshold(account);
    this.journal.account(account);
    return account;
  }

  setNetDebitCap(participantId: string, currency: string, cap: bigint): AccountState {
    this.requireCurrency(participantId, currency, "participant_id");
    const account = this.account(participantId, currency);
    if (cap > account.settlementBalance) {
      throw new LedgerError("CAP_ABOVE_BALANCE", `the cap ${cap} is above the settlement balance ${account.settlementBalance}`, "cap.amount_minor");
    }
    const previous = account.netDebitCap;
    account.netDebitCap = cap;
    this.journal.capChanged(account, previous, "operator");
    this.checkThreshold(account);
    this.journal.account(account);
    return account;
  }

  // ---- transfers ------------------------------------------------------------------------

  /**
   * Reserves the amount on the payer (and the converted amount on the FX provider). `announce`
   * false: a one-step transfer committed in the same operation, which sends only
   * transfer.committed (nobody can act on a reservation that never waits).
   */
  prepare(transfer: TransferRecord, announce = true): TransferRecord {
    this.checkParties(transfer);
    const payer = this.account(transfer.payerId, transfer.currency);
    requireHeadroom(payer, transfer.amount, "amount.amount_minor");
    const provider = transfer.fxProviderId ? this.account(transfer.fxProviderId, transfer.payeeCurrency) : undefined;
    if (provider) requireHeadroom(provider, transfer.payeeAmount, "fx_provider_id");
    payer.reserved += transfer.amount;
    if (provider) provider.reserved += transfer.payeeAmount;
    transfer.state = TransferState.RESERVED;
    this.pending.set(transfer.transferId, transfer);
    for (const account of provider ? [payer, provider] : [payer]) {
      this.checkThreshold(account);
      this.journal.account(account);
    }
    this.journal.transfer(transfer, announce ? "prepared" : undefined);
    return transfer;
  }

  /**
   * Moves the positions of a prepared transfer, fully or partially (the rest is released).
   * `committed` is what the payer pays and its fee and payee amount, priced by the engine.
   */
  commit(transferId: string, committed: { amount: bigint; fee: bigint; payeeAmount: bigint }, nowMs: number): TransferRecord {
    const transfer = this.requirePending(transferId);
    if (committed.amount <= 0n || committed.amount > transfer.preparedAmount) {
      throw new LedgerError("PARTIAL_AMOUNT_TOO_LARGE", `the commit amount must be 1 to ${transfer.preparedAmount}`, "amount.amount_minor");
    }
    if (committed.amount - committed.fee <= 0n) {
      throw new LedgerError("AMOUNT_TOO_SMALL", `${committed.amount} does not cover the fee of ${committed.fee}`, "amount.amount_minor");
    }
    // Thresholds are checked once, after release and move: an exposure that only changes form
    // (reserved → position) crosses nothing.
    const touched = new Set(this.release(transfer, false));
    transfer.amount = committed.amount;
    transfer.fee = committed.fee;
    transfer.payeeAmount = committed.payeeAmount;
    for (const account of this.move(transfer)) touched.add(account);
    for (const account of touched) this.checkThreshold(account);
    transfer.state = TransferState.COMMITTED;
    transfer.windowId = this.openWindow.windowId;
    transfer.completedAtMs = nowMs;
    this.pending.delete(transferId);
    this.openWindow.transferCount += 1n;
    this.journal.window(this.openWindow);
    this.journal.transfer(transfer, "committed");
    return transfer;
  }

  abort(transferId: string, nowMs: number, reason: string): TransferRecord {
    const transfer = this.requirePending(transferId);
    this.finish(transfer, TransferState.ABORTED, nowMs);
    this.journal.transfer(transfer, "aborted", reason);
    return transfer;
  }

  /** Expires every prepared transfer whose expiry is at or before now. */
  expire(transferId: string, nowMs: number): TransferRecord {
    const transfer = this.requirePending(transferId);
    this.finish(transfer, TransferState.EXPIRED, nowMs);
    this.journal.transfer(transfer, "expired");
    return transfer;
  }

  private finish(transfer: TransferRecord, state: TransferState, nowMs: number): void {
    this.release(transfer);
    transfer.state = state;
    transfer.completedAtMs = nowMs;
    this.pending.delete(transfer.transferId);
  }

  private requirePending(transferId: string): TransferRecord {
    const transfer = this.pending.get(transferId);
    if (!transfer) throw new LedgerError("TRANSFER_NOT_FOUND", `no prepared transfer ${transferId}`, "transfer_id");
    return transfer;
  }

  /** Gives back what prepare reserved; returns the accounts it changed. */
  private release(transfer: TransferRecord, checkThresholds = true): AccountState[] {
    const payer = this.account(transfer.payerId, transfer.currency);
    payer.reserved -= transfer.preparedAmount;
    assert(payer.reserved >= 0n, "reserved went negative");
    if (checkThresholds) this.checkThreshold(payer);
    this.journal.account(payer);
    if (!transfer.fxProviderId) return [payer];
    const provider = this.account(transfer.fxProviderId, transfer.payeeCurrency);
    provider.reserved -= transfer.payeeAmount;
    assert(provider.reserved >= 0n, "reserved went negative");
    if (checkThresholds) this.checkThreshold(provider);
    this.journal.account(provider);
    return [payer, provider];
  }

  /** payer +amount, payee -(amount - fee), fee account -fee; across currencies via the FX provider. Returns the accounts it changed. */
  private move(transfer: TransferRecord): AccountState[] {
    const received = transfer.amount - transfer.fee;
    assert(received > 0n, "a committed transfer must leave the payee something");
    const legs: Array<[string, string, bigint]> = transfer.fxProviderId
      ? [
          [transfer.payerId, transfer.currency, transfer.amount],
          [transfer.fxProviderId, transfer.currency, -received],
          [FEE_ACCOUNT, transfer.currency, -transfer.fee],
          [transfer.fxProviderId, transfer.payeeCurrency, transfer.payeeAmount],
          [transfer.payeeId, transfer.payeeCurrency, -transfer.payeeAmount],
        ]
      : [
          [transfer.payerId, transfer.currency, transfer.amount],
          [transfer.payeeId, transfer.currency, -received],
          [FEE_ACCOUNT, transfer.currency, -transfer.fee],
        ];
    const moved: AccountState[] = [];
    for (const [participantId, currency, delta] of legs) {
      if (delta === 0n) continue;
      const account = this.account(participantId, currency);
      account.position += delta;
      const key = accountKey(participantId, currency);
      this.openWindow.nets.set(key, (this.openWindow.nets.get(key) ?? 0n) + delta);
      moved.push(account);
      this.journal.account(account);
      this.journal.windowNet(this.openWindow, key);
    }
    return moved;
  }

  private checkParties(transfer: TransferRecord): void {
    this.requireActive(transfer.payerId, "payer_id");
    this.requireActive(transfer.payeeId, "payee_id");
    this.requireCurrency(transfer.payerId, transfer.currency, "amount.currency");
    if (!transfer.fxProviderId) {
      this.requireCurrency(transfer.payeeId, transfer.currency, "amount.currency");
      return;
    }
    this.requireActive(transfer.fxProviderId, "fx_provider_id");
    this.requireCurrency(transfer.fxProviderId, transfer.currency, "fx_provider_id");
    this.requireCurrency(transfer.fxProviderId, transfer.payeeCurrency, "fx_provider_id");
    this.requireCurrency(transfer.payeeId, transfer.payeeCurrency, "payee_id");
  }

  requireActive(participantId: string, field: string): void {
    const participant = this.participants.get(participantId);
    if (!participant) throw new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, field);
    if (participant.status !== ParticipantStatus.ACTIVE) throw new LedgerError("PARTICIPANT_INACTIVE", `participant ${participantId} is suspended`, field);
  }

  private requireCurrency(participantId: string, currency: string, field: string): void {
    const participant = this.participants.get(participantId);
    if (!participant) throw new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, field);
    if (!participant.currencies.includes(currency)) {
      throw new LedgerError("CURRENCY_NOT_ENABLED", `participant ${participantId} does not transact in ${currency}`, field);
    }
  }

  // ---- settlement windows ------------------------------------------------------------------

  /** Closes the open window, opens the next one atomically, and issues the instructions. */
  closeWindow(nowMs: number): WindowRecord {
    const closing = this.openWindow;
    const nets = netPositions(closing);
    for (const total of sumByCurrency(nets).values()) assert(total === 0n, "a window's net positions must sum to zero per currency");
    closing.state = SettlementWindowState.CLOSED;
    closing.closedAtMs = nowMs;
    closing.instructions = nets.filter((entry) => entry.netMinor !== 0n).map((entry): InstructionRecord => ({
      ...entry, instructionId: `${closing.windowId}.${entry.participantId}.${entry.currency}`,
    }));
    this.journal.window(closing, "closed");
    if (closing.instructions.length === 0) {
      closing.state = SettlementWindowState.SETTLED;
      closing.settledAtMs = nowMs;
      this.journal.window(closing, "settled");
    } else {
      closing.state = SettlementWindowState.SETTLING;
      closing.attempt = 1;
      this.unsettled.set(closing.windowId, closing);
      this.journal.window(closing, "issued");
    }
    this.openWindow = newWindow(closing.sequence + 1, nowMs);
    this.journal.window(this.openWindow);
    return closing;
  }

  /** The settlement bank executed the attempt: balances and positions fall by each net, once. */
  settlementExecuted(windowId: string, attempt: number, nowMs: number): WindowRecord | undefined {
    const window = this.unsettled.get(windowId);
    if (!window || window.state !== SettlementWindowState.SETTLING || window.attempt !== attempt) return undefined;
    for (const instruction of window.instructions) {
      const account = this.account(instruction.participantId, instruction.currency);
      account.settlementBalance -= instruction.netMinor;
      account.position -= instruction.netMinor;
      this.clampCap(account, "settlement");
      this.checkThreshold(account);
      this.journal.account(account);
    }
    window.state = SettlementWindowState.SETTLED;
    window.settledAtMs = nowMs;
    this.unsettled.delete(windowId);
    this.journal.window(window, "settled");
    return window;
  }

  settlementFailed(windowId: string, attempt: number, failedInstructionIds: readonly string[], reason: string): WindowRecord | undefined {
    const window = this.unsettled.get(windowId);
    if (!window || window.state !== SettlementWindowState.SETTLING || window.attempt !== attempt) return undefined;
    window.state = SettlementWindowState.FAILED;
    window.failureReason = reason;
    window.failedInstructionIds = [...failedInstructionIds];
    this.journal.window(window, "failed");
    return window;
  }

  /** Re-issues a failed window's instructions with the same ids. */
  retryWindow(windowId: string): WindowRecord {
    const window = this.unsettled.get(windowId);
    if (!window) throw new LedgerError("WINDOW_NOT_FOUND", `no unsettled window ${windowId}`, "window_id");
    if (window.state !== SettlementWindowState.FAILED) throw new LedgerError("WINDOW_NOT_FAILED", `window ${windowId} is not FAILED`, "window_id");
    window.state = SettlementWindowState.SETTLING;
    window.attempt += 1;
    window.failureReason = "";
    window.failedInstructionIds = [];
    this.journal.window(window, "issued");
    return window;
  }

  /**
   * What may still be withdrawn: balance - max(0, position + reserved), and never so much that
   * a closed window could no longer settle. ARCHITECTURE.md's formula alone nets a closed
   * window's debit against a later window's credit, but the settlement bank executes windows
   * one by one: the debits of unsettled windows must stay covered on their own.
   */
  freeBalance(account: AccountState): bigint {
    const exposure = account.position + account.reserved;
    const key = accountKey(account.participantId, account.currency);
    let owedByClosedWindows = 0n;
    for (const window of this.unsettled.values()) {
      const net = window.nets.get(key) ?? 0n;
      if (net > 0n) owedByClosedWindows += net;
    }
    const held = exposure > owedByClosedWindows ? exposure : owedByClosedWindows;
    return account.settlementBalance - (held > 0n ? held : 0n);
  }

  // ---- limits and thresholds ------------------------------------------------------------------

  /** The cap is never above the settlement balance: lowered, with an event, when the balance falls. */
  private clampCap(account: AccountState, cause: string): void {
    if (account.netDebitCap <= account.settlementBalance) return;
    const previous = account.netDebitCap;
    account.netDebitCap = account.settlementBalance < 0n ? 0n : account.settlementBalance;
    this.journal.capChanged(account, previous, cause);
  }

  private checkThreshold(account: AccountState): void {
    const exposure = account.position + account.reserved;
    const above = account.netDebitCap > 0n && exposure * 100n >= account.netDebitCap * BigInt(this.policy.thresholdPercent);
    if (above === account.aboveThreshold) return;
    account.aboveThreshold = above;
    this.journal.thresholdCrossed(account, this.policy.thresholdPercent);
  }

  /** Invariants, asserted by tests after every operation and by the engine at start. */
  checkInvariants(): void {
    const byCurrency = new Map<string, bigint>();
    for (const account of this.accounts.values()) {
      assert(account.reserved >= 0n, `reserved of ${account.participantId} ${account.currency} is negative`);
      assert(account.netDebitCap <= account.settlementBalance || account.netDebitCap === 0n, `cap above balance for ${account.participantId}`);
      byCurrency.set(account.currency, (byCurrency.get(account.currency) ?? 0n) + account.position);
    }
    for (const [currency, total] of byCurrency) assert(total === 0n, `positions in ${currency} sum to ${total}, not zero`);
  }
}



/** A payer may prepare only while position + reserved + amount <= net debit cap. */
function requireHeadroom(account: AccountState, amount: bigint, field: string): void {
  if (account.position + account.reserved + amount > account.netDebitCap) {
    throw new LedgerError("LIQUIDITY_LIMIT_EXCEEDED",
      `${account.participantId} would exceed its net debit cap in ${account.currency} (cap ${account.netDebitCap}, position ${account.position}, reserved ${account.reserved}, amount ${amount})`, field);
  }
}

export function newWindow(sequence: number, nowMs: number): WindowRecord {
  return {
    windowId: `w-${sequence}`, sequence, state: SettlementWindowState.OPEN, openedAtMs: nowMs, closedAtMs: null, settledAtMs: null,
    nets: new Map(), transferCount: 0n, instructions: [], attempt: 0, failureReason: "", failedInstructionIds: [],
  };
}

export function netPositions(window: WindowRecord): NetEntry[] {
  return [...window.nets.entries()]
    .map(([key, netMinor]) => {
      const [participantId, currency] = key.split("\u0000") as [string, string];
      return { participantId, currency, netMinor };
    })
    .sort((a, b) => (a.currency === b.currency ? a.participantId.localeCompare(b.participantId) : a.currency.localeCompare(b.currency)));
}

function sumByCurrency(entries: readonly NetEntry[]): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const entry of entries) sums.set(entry.currency, (sums.get(entry.currency) ?? 0n) + entry.netMinor);
  return sums;
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`clearing invariant violated: ${message}`);
}

// Model-based property tests of the pure clearing ledger (issue 3, item 11 and the first
// acceptance bullet): random sequences of deposit, withdrawal, cap changes, prepare (same
// currency and through an FX provider), commit (full and partial), abort, expiry (through the
// ExpiryQueue, as the transfer service drives it), window close, settlement executed / failed /
// retried, over 4 active participants (2 banks, a wallet provider, an FX provider), a suspended
// one, an unknown one, and 2 currencies, with a fee schedule that charges.
//
// Each step computes what the ledger must do from the state before it (ARCHITECTURE.md
// "Positions, by sign") and then checks, after every single operation:
// - the outcome: accepted, or refused with the expected reason; a refusal changes nothing
//   (accounts, pending transfers, the open window and its nets, unsettled windows) and
//   journals nothing;
// - every account exactly (balance, cap, position, reserved, threshold flag), and the
//   position.cap_changed and position.threshold_crossed events it sent;
// - checkInvariants(); reserved = the sum of what pending transfers reserved; every position =
//   the nets of its unsettled windows plus the open window; a balance = deposits − withdrawals −
//   the nets of its settled windows; balances per currency are conserved by settlement;
// - after a successful prepare, position + reserved <= cap for the payer (and the FX provider);
//   after a successful withdrawal, the free balance is not negative;
// - a committed transfer never changes; it belongs to exactly the window that was open at its
//   commit; each window's nets equal the legs of its committed transfers and (closed) sum to
//   zero per currency; a closed window's nets and instructions never change.
// At the end every run is drained (pending aborted, window closed, every window settled) and
// every position and reservation must be zero, every balance = funding − its nets.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ParticipantKind, ParticipantStatus, SettlementWindowState, TransferState,
  type NetDebitCapChanged, type PositionThresholdCrossed,
} from "@clearmesh/contracts";
import type { ClearingReason } from "../src/errors.js";
import { ExpiryQueue } from "../src/engine/expiry.js";
import { Journal } from "../src/engine/journal.js";
import { FEE_ACCOUNT, Ledger, newWindow } from "../src/engine/ledger.js";
import { LedgerError, accountKey, type AccountState, type ParticipantView, type TransferRecord, type WindowRecord } from "../src/engine/types.js";
import { divideHalfUp, feeFor, parseFeeSchedule } from "../src/pricing/fees.js";

// ---- the scheme under test ------------------------------------------------------------------

type Currency = "USD" | "EUR";
const CURRENCIES: readonly Currency[] = ["USD", "EUR"];
const FX = "fx-x";
const THRESHOLD_PERCENT = 80;

interface DirectoryEntry { kind: ParticipantKind; status: ParticipantStatus; currencies: readonly string[] }
const DIRECTORY = new Map<string, DirectoryEntry>([
  ["bank-a", { kind: ParticipantKind.BANK, status: ParticipantStatus.ACTIVE, currencies: ["USD", "EUR"] }],
  ["bank-b", { kind: ParticipantKind.BANK, status: ParticipantStatus.ACTIVE, currencies: ["USD", "EUR"] }],
  ["wallet-w", { kind: ParticipantKind.WALLET_PROVIDER, status: ParticipantStatus.ACTIVE, currencies: ["USD"] }],
  [FX, { kind: ParticipantKind.FX_PROVIDER, status: ParticipantStatus.ACTIVE, currencies: ["USD", "EUR"] }],
  ["bank-s", { kind: ParticipantKind.BANK, status: ParticipantStatus.SUSPENDED, currencies: ["USD", "EUR"] }],
]);
const ACTIVE = ["bank-a", "bank-b", "wallet-w", FX] as const;
const participants: ParticipantView = { get: (id) => DIRECTORY.get(id) };

/** Wallet providers pay 2 + 50 bp, everyone else 5 + 25 bp, in any currency. */
const SCHEDULE = parseFeeSchedule(JSON.stringify([
  { currency: "*", payer_kind: "WALLET_PROVIDER", fixed_minor: "2", basis_points: "50" },
  { currency: "*", payer_kind: "*", fixed_minor: "5", basis_points: "25" },
]));
/** Operator-set rates, per 10 000, from the payer's currency to the other one. */
const RATES: Record<Currency, { perTenThousand: bigint; text: string }> = {
  USD: { perTenThousand: 9_200n, text: "0.92" },
  EUR: { perTenThousand: 10_825n, text: "1.0825" },
};
const other = (currency: string): Currency => (currency === "USD" ? "EUR" : "USD");
const kindOf = (id: string): ParticipantKind => DIRECTORY.get(id)?.kind ?? ParticipantKind.UNSPECIFIED;

// ---- operations -------------------------------------------------------------------------------

type Op =
  | { t: "deposit"; p: string; c: Currency; amount: bigint }
  | { t: "withdraw"; p: string; c: Currency; mode: "exact" | "over" | "random"; amount: bigint }
  | { t: "cap"; p: string; c: Currency; mode: "balance" | "over" | "random"; amount: bigint }
  | { t: "prepare"; payer: string; payee: string; c: Currency; fx: boolean; mode: "random" | "headroom" | "over"; amount: bigint; expiresInMs: number; create: boolean; fit: boolean }
  | { t: "commit"; pick: number; mode: "full" | "partial" | "tooLarge" | "zero" | "tooSmall"; percent: number }
  | { t: "abort"; pick: number }
  | { t: "tick"; ms: number }
  | { t: "close" }
  | { t: "executed"; pick: number; stale: boolean }
  | { t: "failed"; pick: number }
  | { t: "retry"; pick: number }
  | { t: "missing"; action: "commit" | "abort" | "expire" };

const participantArb = fc.oneof(
  { weight: 25, arbitrary: fc.constantFrom<string>(...ACTIVE) },
  { weight: 1, arbitrary: fc.constantFrom("bank-s", "ghost") },
);
const currencyArb = fc.constantFrom<Currency>(...CURRENCIES);
const amountArb = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: 3_000n }) },
  { weight: 2, arbitrary: fc.bigInt({ min: 1n, max: 40n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 3_000n, max: 60_000n }) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ t: fc.constant("deposit" as const), p: participantArb, c: currencyArb, amount: amountArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("withdraw" as const), p: participantArb, c: currencyArb, mode: fc.constantFrom("exact" as const, "over" as const, "random" as const), amount: amountArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("cap" as const), p: participantArb, c: currencyArb, mode: fc.constantFrom("balance" as const, "over" as const, "random" as const), amount: amountArb }) },
  {
    weight: 14,
    arbitrary: fc.record({
      t: fc.constant("prepare" as const), payer: participantArb, payee: participantArb, c: currencyArb, fx: fc.boolean(),
      mode: fc.oneof({ weight: 6, arbitrary: fc.constant("random" as const) }, { weight: 1, arbitrary: fc.constantFrom("headroom" as const, "over" as const) }), amount: amountArb,
      expiresInMs: fc.integer({ min: 1, max: 5_000 }), create: fc.boolean(),
      // Mostly pick currencies the parties hold (else most transfers with the USD-only wallet are refused).
      fit: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  {
    weight: 9,
    arbitrary: fc.record({
      t: fc.constant("commit" as const), pick: fc.nat(),
      mode: fc.constantFrom("full" as const, "full" as const, "partial" as const, "partial" as const, "tooLarge" as const, "zero" as const, "tooSmall" as const),
      percent: fc.integer({ min: 1, max: 99 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("abort" as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 3_000 }) }) },
  { weight: 3, arbitrary: fc.constant({ t: "close" as const }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("executed" as const), pick: fc.nat(), stale: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("failed" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("retry" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("missing" as const), action: fc.constantFrom("commit" as const, "abort" as const, "expire" as const) }) },
);

/** Every active participant's starting balance and cap (a share of it), per enabled currency. */
const fundingArb = fc.array(
  fc.record({
    balance: fc.oneof({ weight: 1, arbitrary: fc.constant(0n) }, { weight: 6, arbitrary: fc.bigInt({ min: 5_000n, max: 100_000n }) }),
    capPercent: fc.oneof(fc.constant(100), fc.integer({ min: 0, max: 100 })),
  }),
  { minLength: 7, maxLength: 7 },
);

// ---- helpers ----------------------------------------------------------------------------------

type Outcome<T> = { ok: true; value: T } | { ok: false; reason: ClearingReason; field: string | undefined };

/** Runs an operation; a LedgerError is a refusal, anything else (an invariant) fails the test. */
function attempt<T>(operation: () => T): Outcome<T> {
  try {
    return { ok: true, value: operation() };
  } catch (error) {
    if (error instanceof LedgerError) return { ok: false, reason: error.reason, field: error.field };
    throw error;
  }
}

/** A canonical text of plain data with bigints and Maps, for cheap deep comparisons. */
function canon(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v instanceof Map ? { map: [...v.entries()] } : v));
}

/** Deep equality: a fast textual check first, vitest's diffing toEqual only when it differs. */
function same(actual: unknown, expected: unknown, label: string): void {
  if (canon(actual) !== canon(expected)) expect(actual, label).toEqual(expected);
}

function check(condition: boolean, message: string): void {
  if (!condition) expect.fail(message);
}

function zeroAccount(participantId: string, currency: string): AccountState {
  return { participantId, currency, settlementBalance: 0n, netDebitCap: 0n, position: 0n, reserved: 0n, aboveThreshold: false };
}

function isAbove(account: AccountState): boolean {
  const exposure = account.position + account.reserved;
  return account.netDebitCap > 0n && exposure * 100n >= account.netDebitCap * BigInt(THRESHOLD_PERCENT);
}

/**
 * Accounts as comparable plain data. An account that is all zero is left out: the ledger
 * creates accounts lazily (Ledger.account), and a refused prepare may leave such an empty entry
 * behind; it is indistinguishable from no account (reported, not treated as a change).
 */
function normalise(accounts: ReadonlyMap<string, AccountState>): Record<string, AccountState> {
  const out: Record<string, AccountState> = {};
  for (const key of [...accounts.keys()].sort()) {
    const a = accounts.get(key)!;
    const empty = a.settlementBalance === 0n && a.netDebitCap === 0n && a.position === 0n && a.reserved === 0n && !a.aboveThreshold;
    if (!empty) out[key] = { ...a };
  }
  return out;
}

/** Legs of a committed transfer (PROTOCOL.md §2; ARCHITECTURE.md "Positions, by sign"). */
function legs(t: Pick<TransferRecord, "payerId" | "payeeId" | "currency" | "amount" | "fee" | "payeeCurrency" | "payeeAmount" | "fxProviderId">): Array<[string, string, bigint]> {
  const received = t.amount - t.fee;
  const all: Array<[string, string, bigint]> = t.fxProviderId
    ? [
        [t.payerId, t.currency, t.amount], [t.fxProviderId, t.currency, -received], [FEE_ACCOUNT, t.currency, -t.fee],
        [t.fxProviderId, t.payeeCurrency, t.payeeAmount], [t.payeeId, t.payeeCurrency, -t.payeeAmount],
      ]
    : [[t.payerId, t.currency, t.amount], [t.payeeId, t.currency, -received], [FEE_ACCOUNT, t.currency, -t.fee]];
  return all.filter(([, , delta]) => delta !== 0n);
}

function addTo(map: Map<string, bigint>, key: string, delta: bigint): void {
  map.set(key, (map.get(key) ?? 0n) + delta);
}

function sumsByCurrency(nets: ReadonlyMap<string, bigint>): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const [key, net] of nets) addTo(sums, key.split("\u0000")[1]!, net);
  return sums;
}

const SUBJECT = {
  threshold: "clearmesh.clearing.position.threshold_crossed",
  cap: "clearmesh.clearing.position.cap_changed",
};

// ---- the harness: runs one operation, predicts it, and checks everything -----------------------

class Harness {
  readonly ledger = new Ledger(participants, { thresholdPercent: THRESHOLD_PERCENT }, new Journal());
  nowMs = 1_000_000;
  private sequence = 0;
  private readonly expiries = new ExpiryQueue();
  /** Committed transfers: the live record the ledger returned, a deep copy taken at commit and its text. */
  private readonly committed = new Map<string, { live: TransferRecord; copy: TransferRecord; text: string }>();
  /** Window id → ids of the transfers committed while it was open. */
  private readonly members = new Map<string, string[]>();
  /** Every window that was closed, with a copy of its nets and instructions at close. */
  private readonly closed = new Map<string, { live: WindowRecord; text: string }>();
  /** Deposits − withdrawals, and the nets of executed windows, per account key. */
  private readonly funded = new Map<string, bigint>();
  private readonly settledNets = new Map<string, bigint>();
  readonly reasons = new Map<string, number>();
  readonly stats = { accepted: 0, refused: 0, committed: 0, partial: 0, fx: 0, expired: 0, executed: 0, failed: 0, retried: 0, closed: 0 };

  constructor() {
    this.ledger.openWindow = newWindow(1, this.nowMs);
  }

  /** Everything a refusal must leave alone, as canonical text. */
  private snapshot(): string {
    return canon({ accounts: normalise(this.ledger.accounts), pending: this.ledger.pending, openWindow: this.ledger.openWindow, unsettled: this.ledger.unsettled });
  }

  private accountsCopy(): Map<string, AccountState> {
    return new Map([...this.ledger.accounts].map(([key, account]) => [key, { ...account }]));
  }

  /**
   * Runs `operation` with a fresh journal and checks it against the prediction: `expected` is
   * either the refusal reason or the accounts as they must be afterwards (threshold flags are
   * derived here) plus the non-position events it must journal and the cap changes it must make.
   */
  private step<T>(
    label: string,
    operation: () => T,
    expected:
      | { refused: ClearingReason }
      | { unchanged: true }
      | { accounts: Map<string, AccountState>; subjects: string[]; caps?: Array<{ key: string; previous: bigint; next: bigint; cause: string }> },
    /** The harness's own bookkeeping of an accepted operation, done before the invariants are checked. */
    onAccepted?: (value: T) => void,
  ): T | undefined {
    const before = this.snapshot();
    const flagsBefore = new Map([...this.ledger.accounts].map(([key, account]) => [key, account.aboveThreshold]));
    const journal = new Journal();
    this.ledger.useJournal(journal);
    const outcome = attempt(operation);
    const events = journal.freeze().events;

    if ("refused" in expected || "unchanged" in expected) {
      if ("refused" in expected) {
        const got = outcome.ok ? "accepted" : outcome.reason;
        check(got === expected.refused, `${label}: ${got}, expected ${expected.refused}`);
      } else {
        check(outcome.ok && outcome.value === undefined, `${label}: answers undefined`);
      }
      // A refusal changes nothing and journals nothing.
      const after = this.snapshot();
      if (after !== before) expect(after, `${label}: a refusal changes nothing`).toBe(before);
      check(journal.changes === 0, `${label}: a refusal journals nothing`);
      this.stats.refused += 1;
      if ("refused" in expected) this.reasons.set(expected.refused, (this.reasons.get(expected.refused) ?? 0) + 1);
      this.checkAll(label);
      return undefined;
    }

    if (!outcome.ok) throw new Error(`${label}: refused with ${outcome.reason} (${outcome.field}), expected to be accepted`);
    this.stats.accepted += 1;
    for (const account of expected.accounts.values()) account.aboveThreshold = isAbove(account);
    same(normalise(this.ledger.accounts), normalise(expected.accounts), `${label}: accounts`);

    const subjects = events.map((event) => event.subject).filter((subject) => subject !== SUBJECT.threshold && subject !== SUBJECT.cap);
    same(subjects, expected.subjects, `${label}: events`);
    const caps = events.filter((event) => event.subject === SUBJECT.cap).map((event) => {
      const message = event.message as unknown as NetDebitCapChanged;
      return { key: accountKey(message.participantId, message.currency), previous: message.previousCapMinor, next: message.netDebitCapMinor, cause: message.cause };
    });
    same(caps, expected.caps ?? [], `${label}: cap_changed events`);
    // One threshold event for an account whose flag flipped, with the new flag; none otherwise
    // (no transient crossings inside an operation).
    const crossings = new Map<string, boolean[]>();
    for (const event of events.filter((candidate) => candidate.subject === SUBJECT.threshold)) {
      const message = event.message as unknown as PositionThresholdCrossed;
      const key = accountKey(message.participantId, message.currency);
      crossings.set(key, [...(crossings.get(key) ?? []), message.above]);
    }
    for (const [key, account] of this.ledger.accounts) {
      const seen = crossings.get(key) ?? [];
      const was = flagsBefore.get(key) ?? false;
      const flipped = account.aboveThreshold !== was;
      check(seen.length === (flipped ? 1 : 0) && (!flipped || seen[0] === account.aboveThreshold),
        `${label}: threshold events of ${key} are [${seen.join(", ")}] for a flag ${was} → ${account.aboveThreshold}`);
    }
    onAccepted?.(outcome.value);
    this.checkAll(label);
    return outcome.value;
  }

  /** The invariants that hold after every operation, accepted or refused. */
  private checkAll(label: string): void {
    const ledger = this.ledger;
    ledger.checkInvariants();

    // Reserved is exactly what pending transfers reserved.
    const reserved = new Map<string, bigint>();
    for (const t of ledger.pending.values()) {
      check(t.state === TransferState.RESERVED, `${label}: pending ${t.transferId} is RESERVED`);
      addTo(reserved, accountKey(t.payerId, t.currency), t.preparedAmount);
      if (t.fxProviderId) addTo(reserved, accountKey(t.fxProviderId, t.payeeCurrency), t.payeeAmount);
    }
    // Position = the nets of unsettled windows plus the open window.
    const owed = new Map<string, bigint>();
    for (const window of [...ledger.unsettled.values(), ledger.openWindow]) for (const [key, net] of window.nets) addTo(owed, key, net);
    const balances = new Map<string, bigint>();
    const fundedByCurrency = new Map<string, bigint>();
    for (const [key, funded] of this.funded) addTo(fundedByCurrency, key.split("\u0000")[1]!, funded);
    for (const [key, account] of ledger.accounts) {
      check(account.reserved === (reserved.get(key) ?? 0n), `${label}: reserved of ${key} is ${account.reserved}, pending transfers reserve ${reserved.get(key) ?? 0n}`);
      check(account.reserved >= 0n, `${label}: reserved of ${key} is negative`);
      check(account.position === (owed.get(key) ?? 0n), `${label}: position of ${key} is ${account.position}, unsettled nets ${owed.get(key) ?? 0n}`);
      const balance = (this.funded.get(key) ?? 0n) - (this.settledNets.get(key) ?? 0n);
      check(account.settlementBalance === balance, `${label}: balance of ${key} is ${account.settlementBalance}, funding − settled nets = ${balance}`);
      check(account.aboveThreshold === isAbove(account), `${label}: threshold flag of ${key} is ${account.aboveThreshold} at exposure ${account.position + account.reserved}, cap ${account.netDebitCap}`);
      check(account.netDebitCap >= 0n, `${label}: cap of ${key} is negative`);
      addTo(balances, account.currency, account.settlementBalance);
    }
    for (const key of [...reserved.keys(), ...owed.keys()]) {
      if ((reserved.get(key) ?? 0n) !== 0n || (owed.get(key) ?? 0n) !== 0n) check(ledger.accounts.has(key), `${label}: account ${key} exists`);
    }
    // Settlement moves money between participants: balances per currency = net funding.
    for (const currency of CURRENCIES) check((balances.get(currency) ?? 0n) === (fundedByCurrency.get(currency) ?? 0n), `${label}: ${currency} balances sum to the net funding`);

    // A committed transfer never changes and is in exactly the window open at its commit.
    const windowIds = new Set<string>();
    for (const [id, { live, copy, text }] of this.committed) {
      if (canon(live) !== text) expect(live, `${label}: committed ${id} never changes`).toEqual(copy);
      check(!ledger.pending.has(id), `${label}: committed ${id} is not pending`);
    }
    let memberCount = 0;
    for (const [windowId, ids] of this.members) {
      memberCount += ids.length;
      for (const id of ids) check(this.committed.get(id)!.live.windowId === windowId, `${label}: ${id} is in ${windowId}`);
      windowIds.add(windowId);
    }
    check(memberCount === this.committed.size, `${label}: every committed transfer is in one window`);

    // The open window's nets are the legs of its transfers; its count is theirs.
    const open = ledger.openWindow;
    check(open.state === SettlementWindowState.OPEN, `${label}: the open window is OPEN`);
    check(!this.closed.has(open.windowId), `${label}: the open window was never closed`);
    same(open.nets, this.netsOf(open.windowId, open.nets), `${label}: open window nets = legs of its transfers`);
    check(open.transferCount === BigInt(this.members.get(open.windowId)?.length ?? 0), `${label}: the open window's transfer count`);

    // Closed windows: nets sum to zero per currency, and they and their instructions never change.
    for (const [windowId, { live, text }] of this.closed) {
      check(canon([live.nets, live.instructions]) === text, `${label}: the nets and instructions of closed ${windowId} never change`);
      for (const [currency, total] of sumsByCurrency(live.nets)) check(total === 0n, `${label}: ${windowId} ${currency} nets sum to ${total}`);
      check(live.transferCount === BigInt(this.members.get(windowId)?.length ?? 0), `${label}: ${windowId} transfer count`);
      const inLedger = ledger.unsettled.get(windowId);
      if (inLedger) check(inLedger === live, `${label}: ${windowId} is the same record`);
      else check(live.state === SettlementWindowState.SETTLED, `${label}: ${windowId} left unsettled only when settled`);
    }
  }

  /** The nets the committed transfers of a window add up to (zero entries where the ledger kept them). */
  private netsOf(windowId: string, shape: ReadonlyMap<string, bigint>): Map<string, bigint> {
    const nets = new Map<string, bigint>([...shape.keys()].map((key) => [key, 0n]));
    for (const id of this.members.get(windowId) ?? []) {
      for (const [participantId, currency, delta] of legs(this.committed.get(id)!.copy)) addTo(nets, accountKey(participantId, currency), delta);
    }
    return nets;
  }

  // ---- operations, each predicted from the state before it --------------------------------

  private participantReason(id: string): ClearingReason | undefined {
    const entry = DIRECTORY.get(id);
    if (!entry) return "UNKNOWN_PARTICIPANT";
    return entry.status === ParticipantStatus.ACTIVE ? undefined : "PARTICIPANT_INACTIVE";
  }

  private currencyReason(id: string, currency: string): ClearingReason | undefined {
    const entry = DIRECTORY.get(id);
    if (!entry) return "UNKNOWN_PARTICIPANT";
    return entry.currencies.includes(currency) ? undefined : "CURRENCY_NOT_ENABLED";
  }

  private view(map: Map<string, AccountState>, participantId: string, currency: string): AccountState {
    const key = accountKey(participantId, currency);
    let account = map.get(key);
    if (!account) map.set(key, (account = zeroAccount(participantId, currency)));
    return account;
  }

  deposit(p: string, c: string, amount: bigint): void {
    const refused = this.currencyReason(p, c);
    if (refused) return void this.step(`deposit ${p} ${c} ${amount}`, () => this.ledger.deposit(p, c, amount), { refused });
    const accounts = this.accountsCopy();
    this.view(accounts, p, c).settlementBalance += amount;
    this.step(`deposit ${p} ${c} ${amount}`, () => this.ledger.deposit(p, c, amount), { accounts, subjects: [] },
      () => addTo(this.funded, accountKey(p, c), amount));
  }

  withdraw(p: string, c: string, mode: "exact" | "over" | "random", random: bigint): void {
    const accounts = this.accountsCopy();
    const refused = this.currencyReason(p, c);
    const account = this.view(accounts, p, c);
    const free = freeOf(account, owedByClosedWindows(this.ledger, p, c));
    const amount = mode === "exact" ? free : mode === "over" ? free + 1n : random;
    if (amount <= 0n) return; // validation refuses it before the ledger
    const label = `withdraw ${p} ${c} ${amount} (free ${free})`;
    if (refused || amount > free) return void this.step(label, () => this.ledger.withdraw(p, c, amount), { refused: refused ?? "INSUFFICIENT_FUNDS" });
    account.settlementBalance -= amount;
    const caps = clamp(account, "withdrawal");
    this.step(label, () => this.ledger.withdraw(p, c, amount), { accounts, subjects: [], caps }, () => addTo(this.funded, accountKey(p, c), -amount));
    // Free balance is never negative after a withdrawal that succeeded.
    check(this.ledger.freeBalance(this.ledger.account(p, c)) >= 0n, `${label}: free balance afterwards is negative`);
  }

  setCap(p: string, c: string, mode: "balance" | "over" | "random", random: bigint): void {
    const accounts = this.accountsCopy();
    const refused = this.currencyReason(p, c);
    const account = this.view(accounts, p, c);
    const cap = mode === "balance" ? account.settlementBalance : mode === "over" ? account.settlementBalance + 1n : random;
    if (cap < 0n) return;
    const label = `cap ${p} ${c} ${cap} (balance ${account.settlementBalance})`;
    if (refused || cap > account.settlementBalance) return void this.step(label, () => this.ledger.setNetDebitCap(p, c, cap), { refused: refused ?? "CAP_ABOVE_BALANCE" });
    const previous = account.netDebitCap;
    account.netDebitCap = cap;
    this.step(label, () => this.ledger.setNetDebitCap(p, c, cap), { accounts, subjects: [], caps: [{ key: accountKey(p, c), previous, next: cap, cause: "operator" }] });
  }

  prepare(given: Extract<Op, { t: "prepare" }>): void {
    // SAME_PARTICIPANT is refused by validation, before the ledger: take the next active participant.
    const payee = given.payer !== given.payee ? given.payee : ACTIVE[(ACTIVE.indexOf(given.payer as (typeof ACTIVE)[number]) + 1) % ACTIVE.length]!;
    if (given.payer === payee) return;
    const op = { ...given, payee };
    if (op.fit) {
      if (op.payer === "wallet-w") op.c = "USD";
      if (op.payee === "wallet-w") op.c = op.fx ? "EUR" : "USD";
    }
    const accounts = this.accountsCopy();
    const payerAccount = this.view(accounts, op.payer, op.c);
    const headroom = payerAccount.netDebitCap - payerAccount.position - payerAccount.reserved;
    const amount = op.mode === "headroom" ? headroom : op.mode === "over" ? headroom + 1n : op.amount;
    if (amount <= 0n) return;
    const fee = feeFor(SCHEDULE, op.c, kindOf(op.payer), amount);
    if (amount - fee <= 0n) return; // AMOUNT_TOO_SMALL, refused by pricing before the ledger
    const payeeCurrency = op.fx ? other(op.c) : op.c;
    const payeeAmount = op.fx ? divideHalfUp((amount - fee) * RATES[op.c].perTenThousand, 10_000n) : amount - fee;
    this.sequence += 1;
    const id = `t${this.sequence}`;
    const record: TransferRecord = {
      kind: op.create ? "create" : "prepare", transferId: id, payerId: op.payer, payeeId: op.payee, currency: op.c, amount, quoteId: "",
      payerReference: `payer-${id}`, payeeReference: `payee-${id}`, expiresAtMs: op.create ? null : this.nowMs + op.expiresInMs, conditionHex: "",
      fee, payeeCurrency, payeeAmount, fxProviderId: op.fx ? FX : "", rate: op.fx ? RATES[op.c].text : "",
      state: TransferState.RESERVED, preparedAmount: amount, windowId: "", createdAtMs: this.nowMs, completedAtMs: null,
    };
    const label = `prepare ${id} ${op.payer}→${op.payee} ${amount} ${op.c}${op.fx ? `→${payeeCurrency} ${payeeAmount} via ${FX}` : ""} fee ${fee}`;

    // The ledger checks the parties in this order, then the payer's and the provider's headroom.
    const checks: Array<() => ClearingReason | undefined> = [
      () => this.participantReason(op.payer), () => this.participantReason(op.payee), () => this.currencyReason(op.payer, op.c),
      ...(op.fx
        ? [() => this.participantReason(FX), () => this.currencyReason(FX, op.c), () => this.currencyReason(FX, payeeCurrency), () => this.currencyReason(op.payee, payeeCurrency)]
        : [() => this.currencyReason(op.payee, op.c)]),
    ];
    const providerAccount = op.fx ? this.view(accounts, FX, payeeCurrency) : undefined;
    const refused = checks.map((rule) => rule()).find((reason) => reason !== undefined)
      ?? (amount > headroom ? "LIQUIDITY_LIMIT_EXCEEDED" : undefined)
      ?? (providerAccount && providerAccount.position + providerAccount.reserved + payeeAmount > providerAccount.netDebitCap ? "LIQUIDITY_LIMIT_EXCEEDED" : undefined);
    if (refused) return void this.step(label, () => this.ledger.prepare(record), { refused });

    payerAccount.reserved += amount;
    if (providerAccount) providerAccount.reserved += payeeAmount;
    this.step(label, () => this.ledger.prepare(record), { accounts, subjects: ["clearmesh.clearing.transfer.prepared"] });
    // Right after a successful prepare, the payer (and the provider) are within their caps.
    const payer = this.ledger.account(op.payer, op.c);
    check(payer.position + payer.reserved <= payer.netDebitCap, `${label}: payer within its cap`);
    if (op.fx) {
      const provider = this.ledger.account(FX, payeeCurrency);
      check(provider.position + provider.reserved <= provider.netDebitCap, `${label}: provider within its cap`);
      this.stats.fx += 1;
    }
    check(this.ledger.pending.get(id) === record && record.state === TransferState.RESERVED, `${label}: pending`);
    if (op.create) this.commitById(id, "full", 100);
    else this.expiries.push(record.expiresAtMs!, id);
  }

  commit(pick: number, mode: Extract<Op, { t: "commit" }>["mode"], percent: number): void {
    const ids = [...this.ledger.pending.keys()];
    if (ids.length === 0) return;
    const id = ids[pick % ids.length]!;
    const pending = this.ledger.pending.get(id)!;
    // The service expires a transfer whose expiry has passed instead of committing it.
    if (pending.expiresAtMs !== null && this.nowMs >= pending.expiresAtMs) return this.expireById(id);
    this.commitById(id, mode, percent);
  }

  private commitById(id: string, mode: Extract<Op, { t: "commit" }>["mode"], percent: number): void {
    const pending = structuredClone(this.ledger.pending.get(id)!);
    const payerKind = kindOf(pending.payerId);
    // Partial commits are same-currency only (the service refuses them for FX transfers first).
    const effective = pending.fxProviderId && (mode === "partial" || mode === "tooSmall") ? "full" : mode;
    let committed = { amount: pending.preparedAmount, fee: pending.fee, payeeAmount: pending.payeeAmount };
    if (effective === "tooLarge") committed = { ...committed, amount: pending.preparedAmount + 1n };
    if (effective === "zero") committed = { ...committed, amount: 0n };
    if (effective === "partial" || effective === "tooSmall") {
      const amount = effective === "tooSmall" ? 1n : maxOf(1n, (pending.preparedAmount * BigInt(percent)) / 100n);
      if (amount !== pending.preparedAmount) {
        const fee = feeFor(SCHEDULE, pending.currency, payerKind, amount);
        committed = { amount, fee, payeeAmount: amount - fee };
      }
    }
    const label = `commit ${id} (${effective}) ${committed.amount}/${pending.preparedAmount} fee ${committed.fee}`;
    const commit = () => this.ledger.commit(id, committed, this.nowMs);
    if (committed.amount <= 0n || committed.amount > pending.preparedAmount) return void this.step(label, commit, { refused: "PARTIAL_AMOUNT_TOO_LARGE" });
    if (committed.amount - committed.fee <= 0n) return void this.step(label, commit, { refused: "AMOUNT_TOO_SMALL" });

    const accounts = this.accountsCopy();
    this.release(accounts, pending);
    const moved = { ...pending, ...committed };
    for (const [participantId, currency, delta] of legs(moved)) this.view(accounts, participantId, currency).position += delta;
    const windowId = this.ledger.openWindow.windowId;
    const record = this.step(label, commit, { accounts, subjects: ["clearmesh.clearing.transfer.committed"] }, (done) => {
      same(done, { ...moved, state: TransferState.COMMITTED, windowId, completedAtMs: this.nowMs }, `${label}: the committed record`);
      this.committed.set(id, { live: done, copy: structuredClone(done), text: canon(done) });
      this.members.set(windowId, [...(this.members.get(windowId) ?? []), id]);
    });
    if (!record) throw new Error("unreachable");
    this.stats.committed += 1;
    if (committed.amount !== pending.preparedAmount) this.stats.partial += 1;
  }

  private release(accounts: Map<string, AccountState>, t: TransferRecord): void {
    this.view(accounts, t.payerId, t.currency).reserved -= t.preparedAmount;
    if (t.fxProviderId) this.view(accounts, t.fxProviderId, t.payeeCurrency).reserved -= t.payeeAmount;
  }

  abort(pick: number): void {
    const ids = [...this.ledger.pending.keys()];
    if (ids.length === 0) return;
    const id = ids[pick % ids.length]!;
    const accounts = this.accountsCopy();
    this.release(accounts, this.ledger.pending.get(id)!);
    const record = this.step(`abort ${id}`, () => this.ledger.abort(id, this.nowMs, "test"), { accounts, subjects: ["clearmesh.clearing.transfer.aborted"] });
    check(record?.state === TransferState.ABORTED, `abort ${id}: ABORTED`);
  }

  tick(ms: number): void {
    this.nowMs += ms;
    for (const id of this.expiries.popDue(this.nowMs, 1_000)) {
      const pending = this.ledger.pending.get(id);
      if (pending && pending.expiresAtMs !== null && pending.expiresAtMs <= this.nowMs) this.expireById(id);
    }
  }

  private expireById(id: string): void {
    const accounts = this.accountsCopy();
    this.release(accounts, this.ledger.pending.get(id)!);
    const record = this.step(`expire ${id}`, () => this.ledger.expire(id, this.nowMs), { accounts, subjects: ["clearmesh.clearing.transfer.expired"] });
    check(record?.state === TransferState.EXPIRED && record.completedAtMs === this.nowMs, `expire ${id}: EXPIRED now`);
    this.stats.expired += 1;
  }

  missing(action: "commit" | "abort" | "expire"): void {
    const committedIds = [...this.committed.keys()];
    const id = committedIds.length > 0 ? committedIds[committedIds.length - 1]! : "no-such-transfer";
    const run = action === "commit" ? () => this.ledger.commit(id, { amount: 10n, fee: 0n, payeeAmount: 10n }, this.nowMs)
      : action === "abort" ? () => this.ledger.abort(id, this.nowMs, "test") : () => this.ledger.expire(id, this.nowMs);
    this.step(`${action} ${id} (not pending)`, run, { refused: "TRANSFER_NOT_FOUND" });
  }

  close(): void {
    const open = this.ledger.openWindow;
    const instructions = [...open.nets].filter(([, net]) => net !== 0n).map(([key, netMinor]) => {
      const [participantId, currency] = key.split("\u0000") as [string, string];
      return { participantId, currency, netMinor, instructionId: `${open.windowId}.${participantId}.${currency}` };
    }).sort((a, b) => (a.currency === b.currency ? a.participantId.localeCompare(b.participantId) : a.currency.localeCompare(b.currency)));
    const subjects = ["clearmesh.settlement.window.closed", instructions.length === 0 ? "clearmesh.settlement.window.settled" : "clearmesh.settlement.instruction.issued"];
    const window = this.step(`close ${open.windowId}`, () => this.ledger.closeWindow(this.nowMs), { accounts: this.accountsCopy(), subjects },
      (done) => this.closed.set(done.windowId, { live: done, text: canon([done.nets, done.instructions]) }));
    if (!window) throw new Error("unreachable");
    check(window === open, "close answers the window that was open");
    same(window.instructions, instructions, `close ${open.windowId}: one instruction per non-zero net`);
    check(window.state === (instructions.length === 0 ? SettlementWindowState.SETTLED : SettlementWindowState.SETTLING), `close ${open.windowId}: state`);
    check(window.closedAtMs === this.nowMs && window.attempt === (instructions.length === 0 ? 0 : 1), `close ${open.windowId}: closed now, attempt`);
    check(this.ledger.openWindow.sequence === open.sequence + 1 && this.ledger.openWindow.nets.size === 0, `close ${open.windowId}: the next window opened empty`);
    this.stats.closed += 1;
  }

  private unsettledList(): WindowRecord[] {
    return [...this.ledger.unsettled.values()].sort((a, b) => a.sequence - b.sequence);
  }

  executed(pick: number, stale: boolean): void {
    const windows = this.unsettledList();
    const window = windows[pick % Math.max(1, windows.length)];
    if (!window) return void this.step("executed w-999", () => this.ledger.settlementExecuted("w-999", 1, this.nowMs), { unchanged: true });
    if (stale || window.state !== SettlementWindowState.SETTLING) {
      const attemptNo = stale ? window.attempt + (pick % 2 === 0 ? 1 : -1) : window.attempt;
      return void this.step(`executed ${window.windowId} attempt ${attemptNo} (stale or not settling)`,
        () => this.ledger.settlementExecuted(window.windowId, attemptNo, this.nowMs), { unchanged: true });
    }
    const accounts = this.accountsCopy();
    const caps: Array<{ key: string; previous: bigint; next: bigint; cause: string }> = [];
    const totalsBefore = balancesByCurrency(this.ledger.accounts);
    for (const instruction of window.instructions) {
      const account = this.view(accounts, instruction.participantId, instruction.currency);
      // Each account's balance and position fall by exactly its net.
      account.settlementBalance -= instruction.netMinor;
      account.position -= instruction.netMinor;
      caps.push(...clamp(account, "settlement"));
    }
    const label = `executed ${window.windowId} attempt ${window.attempt}`;
    const result = this.step(label, () => this.ledger.settlementExecuted(window.windowId, window.attempt, this.nowMs), {
      accounts, subjects: ["clearmesh.settlement.window.settled"], caps,
    }, () => {
      for (const instruction of window.instructions) addTo(this.settledNets, accountKey(instruction.participantId, instruction.currency), instruction.netMinor);
    });
    check(result === window && result.state === SettlementWindowState.SETTLED && !this.ledger.unsettled.has(window.windowId), `${label}: SETTLED`);
    // Settlement conserves each currency's total balance (its nets sum to zero).
    same(balancesByCurrency(this.ledger.accounts), totalsBefore, `${label}: balances per currency conserved`);
    this.stats.executed += 1;
  }

  failed(pick: number): void {
    const windows = this.unsettledList();
    const window = windows[pick % Math.max(1, windows.length)];
    if (!window) return void this.step("failed w-999", () => this.ledger.settlementFailed("w-999", 1, [], "test"), { unchanged: true });
    const ids = window.instructions.filter((_, index) => index % 2 === pick % 2).map((instruction) => instruction.instructionId);
    const label = `failed ${window.windowId} attempt ${window.attempt}`;
    const run = () => this.ledger.settlementFailed(window.windowId, window.attempt, ids, "INSUFFICIENT_FUNDS");
    if (window.state !== SettlementWindowState.SETTLING) return void this.step(`${label} (not settling)`, run, { unchanged: true });
    const result = this.step(label, run, { accounts: this.accountsCopy(), subjects: ["clearmesh.settlement.window.failed"] });
    check(result?.state === SettlementWindowState.FAILED, `${label}: FAILED`);
    same(result?.failedInstructionIds, ids, `${label}: failed instruction ids`);
    this.stats.failed += 1;
  }

  retry(pick: number): void {
    const windows = this.unsettledList();
    const window = windows[pick % Math.max(1, windows.length)];
    if (!window) return void this.step("retry w-999", () => this.ledger.retryWindow("w-999"), { refused: "WINDOW_NOT_FOUND" });
    const label = `retry ${window.windowId}`;
    if (window.state !== SettlementWindowState.FAILED) return void this.step(label, () => this.ledger.retryWindow(window.windowId), { refused: "WINDOW_NOT_FAILED" });
    const attemptBefore = window.attempt;
    const result = this.step(label, () => this.ledger.retryWindow(window.windowId), { accounts: this.accountsCopy(), subjects: ["clearmesh.settlement.instruction.issued"] });
    check(result?.state === SettlementWindowState.SETTLING && result.attempt === attemptBefore + 1 && result.failedInstructionIds.length === 0, `${label}: SETTLING, next attempt`);
    this.stats.retried += 1;
  }

  run(op: Op): void {
    this.nowMs += 1;
    switch (op.t) {
      case "deposit": return this.deposit(op.p, op.c, op.amount);
      case "withdraw": return this.withdraw(op.p, op.c, op.mode, op.amount);
      case "cap": return this.setCap(op.p, op.c, op.mode, op.amount);
      case "prepare": return this.prepare(op);
      case "commit": return this.commit(op.pick, op.mode, op.percent);
      case "abort": return this.abort(op.pick);
      case "tick": return this.tick(op.ms);
      case "close": return this.close();
      case "executed": return this.executed(op.pick, op.stale);
      case "failed": return this.failed(op.pick);
      case "retry": return this.retry(op.pick);
      case "missing": return this.missing(op.action);
    }
  }

  /** Aborts what is pending, closes the window, settles every window (retrying failed ones). */
  drain(): void {
    for (const id of [...this.ledger.pending.keys()]) this.abort([...this.ledger.pending.keys()].indexOf(id));
    this.close();
    for (const window of this.unsettledList()) {
      if (window.state === SettlementWindowState.FAILED) this.retry(this.unsettledList().indexOf(window));
      this.executed(this.unsettledList().indexOf(window), false);
    }
    expect(this.ledger.unsettled.size).toBe(0);
    const netTotals = new Map<string, bigint>();
    for (const [key, net] of this.settledNets) addTo(netTotals, key.split("\u0000")[1]!, net);
    for (const [currency, total] of netTotals) expect(total, `settled nets in ${currency} sum to zero`).toBe(0n);
    for (const [key, account] of this.ledger.accounts) {
      expect(account.position, `${key}: no position after every window settled`).toBe(0n);
      expect(account.reserved, `${key}: nothing reserved`).toBe(0n);
      expect(account.settlementBalance, `${key}: balance = funding − nets`).toBe((this.funded.get(key) ?? 0n) - (this.settledNets.get(key) ?? 0n));
    }
  }

  fund(funding: ReadonlyArray<{ balance: bigint; capPercent: number }>): void {
    let index = 0;
    for (const p of ACTIVE) {
      for (const c of DIRECTORY.get(p)!.currencies) {
        const { balance, capPercent } = funding[index++ % funding.length]!;
        if (balance > 0n) this.deposit(p, c, balance);
        this.setCap(p, c, "random", (balance * BigInt(capPercent)) / 100n);
      }
    }
  }
}

/** balance − max(0, exposure, debits of closed unsettled windows): those must stay covered. */
function freeOf(account: AccountState, owedByClosed: bigint): bigint {
  const exposure = account.position + account.reserved;
  const held = exposure > owedByClosed ? exposure : owedByClosed;
  return account.settlementBalance - (held > 0n ? held : 0n);
}

function owedByClosedWindows(ledger: Ledger, p: string, c: string): bigint {
  let owed = 0n;
  for (const window of ledger.unsettled.values()) {
    const net = window.nets.get(accountKey(p, c)) ?? 0n;
    if (net > 0n) owed += net;
  }
  return owed;
}

/** The cap is never above the balance: lowered to it (0 when the balance is negative), with an event. */
function clamp(account: AccountState, cause: string): Array<{ key: string; previous: bigint; next: bigint; cause: string }> {
  if (account.netDebitCap <= account.settlementBalance) return [];
  const previous = account.netDebitCap;
  account.netDebitCap = account.settlementBalance < 0n ? 0n : account.settlementBalance;
  return [{ key: accountKey(account.participantId, account.currency), previous, next: account.netDebitCap, cause }];
}

function balancesByCurrency(accounts: ReadonlyMap<string, AccountState>): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const account of accounts.values()) addTo(totals, account.currency, account.settlementBalance);
  return totals;
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

// ---- the properties ---------------------------------------------------------------------------

describe("clearing ledger, model-based", () => {
  it("keeps every invariant over random sequences of liquidity, transfers, expiry, windows and settlement", () => {
    const reasons = new Map<string, number>();
    const totals = { accepted: 0, refused: 0, committed: 0, partial: 0, fx: 0, expired: 0, executed: 0, failed: 0, retried: 0, closed: 0 };
    fc.assert(
      fc.property(fundingArb, fc.array(opArb, { minLength: 1, maxLength: 60, size: "max" }), (funding, ops) => {
        const harness = new Harness();
        harness.fund(funding);
        for (const op of ops) harness.run(op);
        harness.drain();
        for (const key of Object.keys(totals) as Array<keyof typeof totals>) totals[key] += harness.stats[key];
        for (const [reason, count] of harness.reasons) reasons.set(reason, (reasons.get(reason) ?? 0) + count);
      }),
      { numRuns: 300 },
    );
    // The generator must actually reach every kind of operation and every refusal reason
    // (typically, over 300 runs: ~900 commits, ~70 partial, ~500 FX prepares, ~80 expiries,
    // ~420 settlements, ~100 failed and retried windows).
    for (const [name, count] of Object.entries(totals)) expect(count, `${name} happened`).toBeGreaterThan(0);
    expect(totals.committed).toBeGreaterThan(300);
    expect([...reasons.keys()].sort()).toEqual([
      "AMOUNT_TOO_SMALL", "CAP_ABOVE_BALANCE", "CURRENCY_NOT_ENABLED", "INSUFFICIENT_FUNDS", "LIQUIDITY_LIMIT_EXCEEDED", "PARTIAL_AMOUNT_TOO_LARGE",
      "PARTICIPANT_INACTIVE", "TRANSFER_NOT_FOUND", "UNKNOWN_PARTICIPANT", "WINDOW_NOT_FAILED", "WINDOW_NOT_FOUND",
    ]);
  });

  it("conserves each currency's settlement balances through any settlement order, and each window's nets sum to zero", () => {
    // Many transfers among the four active participants over several windows, then the windows
    // settle in a random order: the total per currency never changes, and each balance ends
    // at its funding minus the sum of its nets.
    const transferArb = fc.record({
      payer: fc.constantFrom<string>(...ACTIVE), payee: fc.constantFrom<string>(...ACTIVE), c: currencyArb, fx: fc.boolean(), amount: fc.bigInt({ min: 6n, max: 5_000n }),
      closeAfter: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(transferArb, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { minLength: 10, maxLength: 10 }), (transfers, order) => {
        const harness = new Harness();
        harness.fund(Array.from({ length: 7 }, () => ({ balance: 1_000_000n, capPercent: 100 })));
        for (const t of transfers) {
          harness.run({ t: "prepare", payer: t.payer, payee: t.payee, c: t.c, fx: t.fx, mode: "random", amount: t.amount, expiresInMs: 1, create: true, fit: true });
          if (t.closeAfter) harness.run({ t: "close" });
        }
        harness.run({ t: "close" });
        const ledger = harness.ledger;
        const start = balancesByCurrency(ledger.accounts);
        const before = new Map([...ledger.accounts].map(([key, account]) => [key, account.settlementBalance]));
        const nets = new Map<string, bigint>();
        for (const window of ledger.unsettled.values()) {
          for (const [currency, total] of sumsByCurrency(window.nets)) expect(total, `${window.windowId} ${currency}`).toBe(0n);
          for (const instruction of window.instructions) addTo(nets, accountKey(instruction.participantId, instruction.currency), instruction.netMinor);
        }
        for (const pick of order) {
          if (ledger.unsettled.size === 0) break;
          harness.run({ t: "executed", pick, stale: false });
          expect(balancesByCurrency(ledger.accounts)).toEqual(start);
        }
        harness.drain();
        expect(balancesByCurrency(ledger.accounts)).toEqual(start);
        for (const [key, account] of ledger.accounts) {
          expect(account.settlementBalance, key).toBe((before.get(key) ?? 0n) - (nets.get(key) ?? 0n));
        }
      }),
      { numRuns: 100 },
    );
  });
});

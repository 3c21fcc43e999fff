// The settlement bank's decision on one window's batch of settlement instructions: pure, no I/O.
// Given the batch, the balances of the accounts it touches and what was already executed, it
// says whether to execute (and the exact balance changes) or to refuse (which instructions fail
// and why). The repository applies the answer; nothing here reads a clock or a database.
//
// Signs (ARCHITECTURE.md "Positions, by sign"): net_minor > 0 means the participant pays in, so
// its settlement account is debited by net_minor; net_minor < 0 means it is paid, so its account
// is credited by -net_minor. Either way the balance becomes `balance - net_minor`.
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";

export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
/** Window and instruction ids: clearing's are like `w-12` and `w-12.bank-a.USD`. */
export const SETTLEMENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
/** Instructions one batch may carry: participants × currencies, with room to spare. */
export const MAX_BATCH_INSTRUCTIONS = 10_000;
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * Why a batch was refused: the prefix of the `reason` of clearmesh.settlement.instruction.failed
 * (stable API; the text after the colon is for people).
 */
export const settlementFailureReasons = {
  /** The batch itself is malformed (ids, currencies, duplicates, size); every instruction fails. */
  INVALID_BATCH: "the batch is malformed; every instruction is named",
  /** Some currency's nets do not sum to zero; that currency's instructions are named. */
  UNBALANCED_BATCH: "a currency's nets do not sum to zero; that currency's instructions are named",
  /** A debit exceeds its settlement account's balance; exactly those debits are named. */
  INSUFFICIENT_FUNDS: "a debit exceeds its settlement account's balance; exactly those debits are named",
  /** A credit would take a balance beyond int64; those credits are named. */
  BALANCE_OVERFLOW: "a credit would take a balance beyond int64; those credits are named",
  /**
   * Some instruction ids were executed before with other terms, or only part of the batch was
   * (a re-issue must repeat the executed batch exactly); the conflicting instructions are named.
   */
  BATCH_CONFLICT: "instruction ids already executed with other terms, or a batch only partly executed before",
} as const;

export type SettlementFailureReason = keyof typeof settlementFailureReasons;

export interface Instruction {
  instructionId: string;
  windowId: string;
  participantId: string;
  currency: string;
  /** Positive: the participant pays in (a debit); negative: it is paid (a credit). */
  netMinor: bigint;
}

export interface Batch {
  windowId: string;
  attempt: number;
  instructions: readonly Instruction[];
}

/** An instruction as recorded when it was executed. */
export interface ExecutedInstruction extends Instruction {
  attempt: number;
}

export interface Books {
  /** Balances of existing settlement accounts, by accountKey(); absent = no account yet. */
  balances: ReadonlyMap<string, bigint>;
  /** Instructions of the batch already executed, by instruction id. */
  executed: ReadonlyMap<string, ExecutedInstruction>;
}

export interface BalanceChange {
  participantId: string;
  currency: string;
  /** Balance before (0 when the account does not exist yet). */
  beforeMinor: bigint;
  /** Balance after: beforeMinor - netMinor. */
  afterMinor: bigint;
  /** The account does not exist yet and is opened by this credit. */
  opensAccount: boolean;
}

export type BatchDecision =
  /** Apply every change and record every instruction as executed, in one transaction. */
  | { kind: "execute"; changes: BalanceChange[] }
  /** Every instruction was executed before with the same terms: change nothing, report executed. */
  | { kind: "already-executed" }
  /** Change nothing; report failed naming these instructions. */
  | { kind: "fail"; failure: SettlementFailureReason; failingInstructionIds: string[]; reason: string };

export function accountKey(participantId: string, currency: string): string {
  return `${participantId}\u0000${currency}`;
}

/**
 * Decides a window's batch: all or none. Checks, in order: the batch is well formed; it was
 * not (partly or differently) executed before; each currency's nets sum to zero; every debit
 * is covered by its balance; no credit overflows. Credits in the batch never fund its debits
 * (each participant has one instruction per currency, so they touch other accounts).
 */
export function decideBatch(batch: Batch, books: Books): BatchDecision {
  const allIds = batch.instructions.map((instruction) => instruction.instructionId);
  const problem = batchMalformation(batch);
  if (problem !== undefined) return fail("INVALID_BATCH", allIds, problem);
  const previous = previousExecution(batch, books.executed);
  if (previous !== undefined) return previous;
  const unbalanced = unbalancedCurrencies(batch.instructions);
  if (unbalanced.length > 0) {
    const ids = batch.instructions.filter((instruction) => unbalanced.some(([currency]) => currency === instruction.currency));
    return fail("UNBALANCED_BATCH", ids.map((instruction) => instruction.instructionId),
      unbalanced.map(([currency, sum]) => `${currency} nets sum to ${sum}`).join("; "));
  }
  const changes = batch.instructions.map((instruction) => change(instruction, books.balances));
  const short = changes.flatMap((entry, index) => (entry.afterMinor < 0n ? [{ entry, instruction: batch.instructions[index]! }] : []));
  if (short.length > 0) {
    return fail("INSUFFICIENT_FUNDS", short.map(({ instruction }) => instruction.instructionId),
      short.map(({ entry, instruction }) => `${entry.participantId} ${entry.currency} needs ${instruction.netMinor}, has ${entry.beforeMinor}`).join("; "));
  }
  const overflowing = changes.flatMap((entry, index) => (entry.afterMinor > INT64_MAX ? [batch.instructions[index]!] : []));
  if (overflowing.length > 0) {
    return fail("BALANCE_OVERFLOW", overflowing.map((instruction) => instruction.instructionId),
      overflowing.map((instruction) => `${instruction.participantId} ${instruction.currency} would exceed int64`).join("; "));
  }
  assertExecutable(changes);
  return { kind: "execute", changes };
}

function fail(failure: SettlementFailureReason, failingInstructionIds: string[], detail: string): BatchDecision {
  return { kind: "fail", failure, failingInstructionIds, reason: `${failure}: ${detail}` };
}

/** What is wrong with the batch's shape, or undefined when nothing is. */
export function batchMalformation(batch: Batch): string | undefined {
  if (!SETTLEMENT_ID_PATTERN.test(batch.windowId)) return "window_id is not a valid id";
  if (!Number.isInteger(batch.attempt) || batch.attempt < 1) return "attempt must be 1 or more";
  if (batch.instructions.length > MAX_BATCH_INSTRUCTIONS) return `more than ${MAX_BATCH_INSTRUCTIONS} instructions`;
  const ids = new Set<string>();
  const accounts = new Set<string>();
  for (const [index, instruction] of batch.instructions.entries()) {
    const at = `instructions[${index}]`;
    if (!SETTLEMENT_ID_PATTERN.test(instruction.instructionId)) return `${at}.instruction_id is not a valid id`;
    if (instruction.windowId !== batch.windowId) return `${at}.window_id is not the batch's window`;
    if (!PARTICIPANT_ID_PATTERN.test(instruction.participantId)) return `${at}.participant_id is not a participant id`;
    if (!CURRENCY_PATTERN.test(instruction.currency)) return `${at}.currency is not an ISO 4217 code`;
    if (ids.has(instruction.instructionId)) return `${at}.instruction_id repeats ${instruction.instructionId}`;
    const key = accountKey(instruction.participantId, instruction.currency);
    if (accounts.has(key)) return `${at} is a second instruction for ${instruction.participantId} ${instruction.currency}`;
    ids.add(instruction.instructionId);
    accounts.add(key);
  }
  return undefined;
}

/** Already executed in full with the same terms, or a conflict with an earlier execution. */
function previousExecution(batch: Batch, executed: Books["executed"]): BatchDecision | undefined {
  const done = batch.instructions.filter((instruction) => executed.has(instruction.instructionId));
  if (done.length === 0) return undefined;
  const differing = done.filter((instruction) => !sameTerms(instruction, executed.get(instruction.instructionId)!));
  if (differing.length > 0) {
    return fail("BATCH_CONFLICT", differing.map((instruction) => instruction.instructionId),
      `${differing.map((instruction) => instruction.instructionId).join(", ")} executed before with other terms`);
  }
  if (done.length === batch.instructions.length) return { kind: "already-executed" };
  const pending = batch.instructions.filter((instruction) => !executed.has(instruction.instructionId));
  return fail("BATCH_CONFLICT", pending.map((instruction) => instruction.instructionId),
    `${done.length} of ${batch.instructions.length} instructions were executed before in another batch`);
}

function sameTerms(instruction: Instruction, recorded: ExecutedInstruction): boolean {
  return instruction.windowId === recorded.windowId && instruction.participantId === recorded.participantId
    && instruction.currency === recorded.currency && instruction.netMinor === recorded.netMinor;
}

/** Currencies whose nets do not sum to zero, with their sums, in first-seen order. */
function unbalancedCurrencies(instructions: readonly Instruction[]): Array<[string, bigint]> {
  const sums = new Map<string, bigint>();
  for (const instruction of instructions) sums.set(instruction.currency, (sums.get(instruction.currency) ?? 0n) + instruction.netMinor);
  return [...sums].filter(([, sum]) => sum !== 0n);
}

function change(instruction: Instruction, balances: Books["balances"]): BalanceChange {
  const before = balances.get(accountKey(instruction.participantId, instruction.currency));
  const beforeMinor = before ?? 0n;
  return {
    participantId: instruction.participantId,
    currency: instruction.currency,
    beforeMinor,
    afterMinor: beforeMinor - instruction.netMinor,
    opensAccount: before === undefined,
  };
}

/** The invariants of an executable batch, asserted rather than assumed (TIGER_STYLE). */
function assertExecutable(changes: readonly BalanceChange[]): void {
  const totals = new Map<string, bigint>();
  for (const entry of changes) {
    if (entry.afterMinor < 0n || entry.afterMinor > INT64_MAX) throw new Error(`settlement would leave ${entry.participantId} ${entry.currency} at ${entry.afterMinor}`);
    totals.set(entry.currency, (totals.get(entry.currency) ?? 0n) + entry.afterMinor - entry.beforeMinor);
  }
  for (const [currency, total] of totals) {
    if (total !== 0n) throw new Error(`settlement would change the ${currency} total by ${total}`);
  }
}

/** The balances after applying an execute decision (for tests and reports). */
export function applyChanges(balances: ReadonlyMap<string, bigint>, changes: readonly BalanceChange[]): Map<string, bigint> {
  const after = new Map(balances);
  for (const entry of changes) after.set(accountKey(entry.participantId, entry.currency), entry.afterMinor);
  return after;
}

// The settlement bank's decision on a batch, as pure functions: examples for every outcome, and
// properties over random balances and balanced batches.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  INT64_MAX, MAX_BATCH_INSTRUCTIONS, accountKey, applyChanges, decideBatch, type Batch, type ExecutedInstruction, type Instruction,
} from "../src/settlement/books.js";

const WINDOW = "w-7";

function instruction(participantId: string, currency: string, netMinor: bigint, windowId = WINDOW): Instruction {
  return { instructionId: `${windowId}.${participantId}.${currency}`, windowId, participantId, currency, netMinor };
}

function batch(instructions: Instruction[], attempt = 1): Batch {
  return { windowId: WINDOW, attempt, instructions };
}

function balances(entries: Array<[string, string, bigint]>): Map<string, bigint> {
  return new Map(entries.map(([participantId, currency, balance]) => [accountKey(participantId, currency), balance]));
}

const noneExecuted = new Map<string, ExecutedInstruction>();

describe("decideBatch", () => {
  const funded = balances([["bank-a", "USD", 1_000n], ["bank-b", "USD", 200n], ["wallet-a", "USD", 50n]]);

  it("executes a balanced, funded batch: each balance falls by its net, a credit opens a missing account", () => {
    const decision = decideBatch(batch([instruction("bank-a", "USD", 700n), instruction("bank-b", "USD", -500n), instruction("wallet-b", "USD", -200n)]),
      { balances: funded, executed: noneExecuted });
    expect(decision).toEqual({
      kind: "execute",
      changes: [
        { participantId: "bank-a", currency: "USD", beforeMinor: 1_000n, afterMinor: 300n, opensAccount: false },
        { participantId: "bank-b", currency: "USD", beforeMinor: 200n, afterMinor: 700n, opensAccount: false },
        { participantId: "wallet-b", currency: "USD", beforeMinor: 0n, afterMinor: 200n, opensAccount: true },
      ],
    });
  });

  it("lets a debit take the balance to exactly zero", () => {
    const decision = decideBatch(batch([instruction("bank-b", "USD", 200n), instruction("bank-a", "USD", -200n)]), { balances: funded, executed: noneExecuted });
    expect(decision.kind).toBe("execute");
  });

  it("fails naming exactly the underfunded debits, with what each needs and has", () => {
    const decision = decideBatch(batch([
      instruction("bank-a", "USD", 500n), instruction("bank-b", "USD", 500n), instruction("wallet-a", "USD", 60n), instruction("wallet-b", "USD", -1_060n),
    ]), { balances: funded, executed: noneExecuted });
    expect(decision).toEqual({
      kind: "fail",
      failure: "INSUFFICIENT_FUNDS",
      failingInstructionIds: ["w-7.bank-b.USD", "w-7.wallet-a.USD"],
      reason: "INSUFFICIENT_FUNDS: bank-b USD needs 500, has 200; wallet-a USD needs 60, has 50",
    });
  });

  it("fails a debit from an account that does not exist as having 0", () => {
    const decision = decideBatch(batch([instruction("bank-c", "USD", 5n), instruction("bank-a", "USD", -5n)]), { balances: funded, executed: noneExecuted });
    expect(decision).toMatchObject({ kind: "fail", failingInstructionIds: ["w-7.bank-c.USD"], reason: "INSUFFICIENT_FUNDS: bank-c USD needs 5, has 0" });
  });

  it("fails an unbalanced batch naming the instructions of the unbalanced currency", () => {
    const decision = decideBatch(batch([
      instruction("bank-a", "USD", 100n), instruction("bank-b", "USD", -100n), instruction("bank-a", "EUR", 100n), instruction("bank-b", "EUR", -90n),
    ]), { balances: funded, executed: noneExecuted });
    expect(decision).toEqual({
      kind: "fail", failure: "UNBALANCED_BATCH", failingInstructionIds: ["w-7.bank-a.EUR", "w-7.bank-b.EUR"], reason: "UNBALANCED_BATCH: EUR nets sum to 10",
    });
  });

  it.each([
    ["a repeated instruction id", [instruction("bank-a", "USD", 1n), { ...instruction("bank-b", "USD", -1n), instructionId: "w-7.bank-a.USD" }], "repeats"],
    ["two instructions for one account", [instruction("bank-a", "USD", 1n), { ...instruction("bank-a", "USD", -1n), instructionId: "other" }], "second instruction"],
    ["an instruction of another window", [instruction("bank-a", "USD", 1n), instruction("bank-b", "USD", -1n, "w-8")], "window"],
    ["a lower-case currency", [instruction("bank-a", "usd", 1n), instruction("bank-b", "usd", -1n)], "currency"],
    ["a bad participant id", [instruction("B", "USD", 1n), instruction("bank-b", "USD", -1n)], "participant_id"],
    ["an empty instruction id", [{ ...instruction("bank-a", "USD", 0n), instructionId: "" }], "instruction_id"],
  ])("refuses a batch with %s as INVALID_BATCH, naming every instruction", (_name, instructions, detail) => {
    const decision = decideBatch(batch(instructions), { balances: funded, executed: noneExecuted });
    expect(decision).toMatchObject({ kind: "fail", failure: "INVALID_BATCH", failingInstructionIds: instructions.map((entry) => entry.instructionId) });
    expect(decision.kind === "fail" && decision.reason).toContain(detail);
  });

  it("refuses attempt 0, an empty window id and an oversized batch", () => {
    const books = { balances: funded, executed: noneExecuted };
    expect(decideBatch({ ...batch([]), attempt: 0 }, books)).toMatchObject({ kind: "fail", failure: "INVALID_BATCH" });
    expect(decideBatch({ ...batch([]), windowId: "" }, books)).toMatchObject({ kind: "fail", failure: "INVALID_BATCH" });
    const many = Array.from({ length: MAX_BATCH_INSTRUCTIONS + 1 }, (_, index) => instruction(`bank-${index}`, "USD", 0n));
    expect(decideBatch(batch(many), books)).toMatchObject({ kind: "fail", failure: "INVALID_BATCH" });
  });

  it("fails a credit that would take a balance beyond int64", () => {
    const decision = decideBatch(batch([instruction("bank-a", "USD", 1_000n), instruction("bank-b", "USD", -1_000n)]),
      { balances: balances([["bank-a", "USD", 1_000n], ["bank-b", "USD", INT64_MAX - 10n]]), executed: noneExecuted });
    expect(decision).toMatchObject({ kind: "fail", failure: "BALANCE_OVERFLOW", failingInstructionIds: ["w-7.bank-b.USD"] });
  });

  describe("a batch seen before", () => {
    const instructions = [instruction("bank-a", "USD", 700n), instruction("bank-b", "USD", -700n)];
    const executed = new Map(instructions.map((entry) => [entry.instructionId, { ...entry, attempt: 1 }]));

    it("is already executed when every instruction was, with the same terms, whatever the balances now", () => {
      expect(decideBatch(batch(instructions, 2), { balances: new Map(), executed })).toEqual({ kind: "already-executed" });
    });

    it("conflicts when an executed id comes back with other terms", () => {
      const changed = [instructions[0]!, { ...instructions[1]!, netMinor: -700n, participantId: "bank-c", instructionId: "w-7.bank-b.USD" }];
      expect(decideBatch(batch(changed, 2), { balances: funded, executed })).toMatchObject({
        kind: "fail", failure: "BATCH_CONFLICT", failingInstructionIds: ["w-7.bank-b.USD"],
      });
    });

    it("conflicts when only part of the batch was executed, naming the rest", () => {
      const partial = new Map([[instructions[0]!.instructionId, { ...instructions[0]!, attempt: 1 }]]);
      expect(decideBatch(batch(instructions, 2), { balances: funded, executed: partial })).toMatchObject({
        kind: "fail", failure: "BATCH_CONFLICT", failingInstructionIds: ["w-7.bank-b.USD"],
      });
    });
  });
});

// ---- properties ------------------------------------------------------------------------------

const PARTICIPANTS = ["bank-a", "bank-b", "wallet-a", "wallet-b", "acquirer-a"];
const CURRENCIES = ["USD", "EUR", "JPY"];
const AMOUNT = fc.bigInt({ min: -1_000_000n, max: 1_000_000n });

/** One currency's nets: some participants, the last one balancing the others. */
const currencyNets = (currency: string) =>
  fc.subarray(PARTICIPANTS, { minLength: 1 }).chain((participants) =>
    fc.array(AMOUNT, { minLength: participants.length - 1, maxLength: participants.length - 1 }).map((nets) => {
      const last = -nets.reduce((sum, net) => sum + net, 0n);
      return participants.map((participantId, index) => instruction(participantId, currency, index < nets.length ? nets[index]! : last));
    }));

const balancedBatch = fc.tuple(...CURRENCIES.map((currency) => fc.option(currencyNets(currency), { nil: undefined })))
  .map((perCurrency) => batch(perCurrency.flatMap((instructions) => instructions ?? [])));

const randomBalances = fc.array(
  fc.tuple(fc.constantFrom(...PARTICIPANTS), fc.constantFrom(...CURRENCIES), fc.bigInt({ min: 0n, max: 2_000_000n })),
  { maxLength: PARTICIPANTS.length * CURRENCIES.length },
).map(balances);

function totalsByCurrency(book: ReadonlyMap<string, bigint>): Map<string, bigint> {
  const totals = new Map<string, bigint>();
  for (const [key, balance] of book) {
    const currency = key.split("\u0000")[1]!;
    totals.set(currency, (totals.get(currency) ?? 0n) + balance);
  }
  return totals;
}

describe("decideBatch properties", () => {
  it("execute keeps every currency's total, never leaves a balance negative, and happens exactly when every debit is covered", () => {
    fc.assert(fc.property(randomBalances, balancedBatch, (before, proposed) => {
      const decision = decideBatch(proposed, { balances: before, executed: noneExecuted });
      const underfunded = proposed.instructions.filter((entry) => entry.netMinor > (before.get(accountKey(entry.participantId, entry.currency)) ?? 0n));
      if (decision.kind === "execute") {
        const after = applyChanges(before, decision.changes);
        const totalsBefore = totalsByCurrency(before);
        const totalsAfter = totalsByCurrency(after);
        for (const currency of CURRENCIES) expect(totalsAfter.get(currency) ?? 0n).toBe(totalsBefore.get(currency) ?? 0n);
        for (const balance of after.values()) expect(balance >= 0n).toBe(true);
        for (const entry of proposed.instructions) {
          const key = accountKey(entry.participantId, entry.currency);
          expect(after.get(key)).toBe((before.get(key) ?? 0n) - entry.netMinor);
        }
        expect(underfunded).toEqual([]);
      } else {
        expect(decision.kind).toBe("fail");
        if (decision.kind !== "fail") return;
        // A refusal carries no change at all, and names exactly the underfunded debits.
        expect(decision).not.toHaveProperty("changes");
        expect(decision.failure).toBe("INSUFFICIENT_FUNDS");
        expect(decision.failingInstructionIds).toEqual(underfunded.map((entry) => entry.instructionId));
      }
    }), { numRuns: 500 });
  });

  it("a batch made unbalanced in one currency fails naming only that currency's instructions", () => {
    fc.assert(fc.property(randomBalances, balancedBatch, fc.bigInt({ min: 1n, max: 1_000n }), (before, proposed, skew) => {
      fc.pre(proposed.instructions.length > 0);
      const [first, ...rest] = proposed.instructions;
      const skewed = batch([{ ...first!, netMinor: first!.netMinor + skew }, ...rest]);
      const decision = decideBatch(skewed, { balances: before, executed: noneExecuted });
      expect(decision).toMatchObject({ kind: "fail", failure: "UNBALANCED_BATCH" });
      if (decision.kind !== "fail") return;
      expect(decision.failingInstructionIds).toEqual(skewed.instructions.filter((entry) => entry.currency === first!.currency).map((entry) => entry.instructionId));
    }), { numRuns: 200 });
  });

  it("a batch executed before is never executed again, whatever the balances", () => {
    fc.assert(fc.property(randomBalances, balancedBatch, fc.integer({ min: 1, max: 5 }), (before, proposed, attempt) => {
      fc.pre(proposed.instructions.length > 0);
      const executed = new Map(proposed.instructions.map((entry) => [entry.instructionId, { ...entry, attempt: 1 }]));
      expect(decideBatch({ ...proposed, attempt }, { balances: before, executed })).toEqual({ kind: "already-executed" });
    }), { numRuns: 200 });
  });
});

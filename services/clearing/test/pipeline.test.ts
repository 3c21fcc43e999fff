// The engine's batch pipeline, driven directly on a real store: the next batch is handed over
// while the previous one is still being written, answers come only once a caller's batch is
// durable, and a failed batch takes every batch behind it down with it (nothing of them is
// stored) before memory is rebuilt from the store.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { busMigrations, outboxMigrations } from "@clearmesh/bus";
import { create } from "@bufbuild/protobuf";
import { LiquidityDepositedSchema, ParticipantKind, ParticipantStatus } from "@clearmesh/contracts";
import { createLogger, errorReason } from "@clearmesh/runtime";
import { forwardingStore, openStore, type BatchChain, type Statement, type Store } from "@clearmesh/store";
import { createSigningKey, generateSeed } from "@clearmesh/trust";
import { afterEach, describe, expect, it } from "vitest";
import { BATCHES_IN_FLIGHT, ClearingEngine } from "../src/engine/engine.js";
import { createEventSealer, type EventSealer } from "../src/events.js";
import { clearingMigrations } from "../src/migrations.js";

/** Holds each batch before the real chain gets it, in order, until the test lets it through. */
class GatedStore {
  readonly handedOver: Array<{ statements: readonly Statement[]; release: (options?: { fail?: boolean }) => void }> = [];

  constructor(readonly inner: Store) {}

  wrap(): Store {
    return forwardingStore(this.inner, { batchChain: () => this.chain(this.inner.batchChain()) });
  }

  private chain(real: BatchChain): BatchChain {
    let previous: Promise<unknown> = Promise.resolve();
    return {
      write: (statements) => {
        let release!: (options?: { fail?: boolean }) => void;
        const gate = new Promise<{ fail?: boolean }>((resolve) => { release = (options = {}) => resolve(options); });
        this.handedOver.push({ statements, release });
        // Reaches the real chain in the order handed over; a failing one carries a statement the
        // store refuses, so the real chain breaks exactly as on a disk or constraint failure.
        const reached = previous.then(() => gate);
        previous = reached;
        return reached.then(({ fail }) => real.write(fail ? [...statements, { sql: "INSERT INTO no_such_table (x) VALUES ($1)", params: [1n] }] : statements));
      },
    };
  }
}

const participants = {
  get: (participantId: string) => participantId.startsWith("bank-")
    ? { kind: ParticipantKind.BANK, status: ParticipantStatus.ACTIVE, currencies: ["EUR"] }
    : undefined,
};

async function until(what: string, probe: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A few turns of the event loop: enough for the engine to cut and hand over what it can. */
const turns = async (count = 5) => {
  for (let index = 0; index < count; index += 1) await new Promise((resolve) => setImmediate(resolve));
};

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function engineOnGatedStore(options: { sealEvents?: (real: EventSealer) => EventSealer; answersPerTurn?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-pipeline-"));
  dirs.push(dir);
  const inner = await openStore({ sqlitePath: path.join(dir, "clearing.db") });
  stores.push(inner);
  await inner.migrate([...outboxMigrations, ...busMigrations, ...clearingMigrations]);
  const gated = new GatedStore(inner);
  const sealer = createEventSealer(createSigningKey("clearing", "clearing-1", generateSeed()), Date.now);
  const engine = new ClearingEngine({
    store: gated.wrap(),
    participants,
    policy: { thresholdPercent: 80 },
    sealEvents: options.sealEvents ? options.sealEvents(sealer) : sealer,
    notifyOutbox: () => {},
    now: Date.now,
    logger: createLogger({ service: "clearing", level: "silent" }),
    maxPendingOperations: 1_000,
    answersPerTurn: options.answersPerTurn,
  });
  const starting = engine.start();
  // The first load writes the first window: let that batch through.
  await until("the first window's batch", () => gated.handedOver.length === 1);
  gated.handedOver[0]!.release();
  await starting;
  await engine.read(() => undefined);
  const stored = async () => (await inner.query<{ b: bigint }>("SELECT settlement_balance_minor AS b FROM accounts WHERE participant_id = 'bank-a'"))[0]?.b;
  const deposit = (amount: bigint) => engine.apply((ledger) => ledger.deposit("bank-a", "EUR", amount).settlementBalance);
  /**
   * After a failed batch: waits for the engine to reload from the store, runs `change` (a deposit
   * that answers bank-a's new balance), lets its batch through, and checks that the answer and
   * the store both say `expected`, i.e. the change landed on what the store held.
   */
  const landsAfterReload = async (change: () => Promise<bigint>, expected: bigint) => {
    await until("the engine reloaded", () => engine.ready);
    const handedOver = gated.handedOver.length;
    const next = change();
    await until("the next batch handed over", () => gated.handedOver.length === handedOver + 1);
    gated.handedOver[handedOver]!.release();
    expect(await next).toBe(expected);
    expect(await stored()).toBe(expected);
  };
  return { engine, gated, stored, deposit, inner, landsAfterReload };
}

describe("clearing engine batch pipeline (SQLite writer thread)", () => {
  it("hands the next batch over while the previous one is written, and answers each caller once its batch is durable", async () => {
    const { engine, gated, stored, deposit } = await engineOnGatedStore();
    const answered: string[] = [];
    const first = deposit(100n).then((balance) => { answered.push("first"); return balance; });
    await until("the first batch handed over", () => gated.handedOver.length === 2);
    const second = deposit(200n).then((balance) => { answered.push("second"); return balance; });
    await until("the second batch handed over before the first is written", () => gated.handedOver.length === 3);
    // The pipeline is full: the third operation applies at once but waits in the collecting batch.
    const third = deposit(300n).then((balance) => { answered.push("third"); return balance; });
    const reading = engine.read((ledger) => ledger.account("bank-a", "EUR").settlementBalance).then((balance) => { answered.push("read"); return balance; });
    await turns(20);
    expect(BATCHES_IN_FLIGHT).toBe(2);
    expect(gated.handedOver).toHaveLength(3);
    expect(answered).toEqual([]);
    expect(await stored()).toBeUndefined();

    gated.handedOver[1]!.release();
    expect(await first).toBe(100n);
    expect(await stored()).toBe(100n);
    // The third batch (the third deposit and the read) is handed over as soon as the first is durable.
    await until("the third batch handed over", () => gated.handedOver.length === 4);
    expect(answered).toEqual(["first"]);
    gated.handedOver[2]!.release();
    gated.handedOver[3]!.release();
    expect(await Promise.all([second, third, reading])).toEqual([300n, 600n, 600n]);
    expect(answered).toEqual(["first", "second", "third", "read"]);
    expect(await stored()).toBe(600n);
    await engine.stop();
  });

  it("fails the batch behind a failed one and the one collecting, stores nothing of them, and reloads from the store", async () => {
    const { engine, gated, stored, deposit, landsAfterReload } = await engineOnGatedStore();
    const funded = deposit(1_000n);
    await until("the funding batch", () => gated.handedOver.length === 2);
    gated.handedOver[1]!.release();
    expect(await funded).toBe(1_000n);

    const failing = deposit(100n).catch((error: unknown) => errorReason(error));
    await until("the failing batch handed over", () => gated.handedOver.length === 3);
    const behind = deposit(200n).catch((error: unknown) => errorReason(error));
    await until("the batch behind it handed over", () => gated.handedOver.length === 4);
    const collecting = deposit(300n).catch((error: unknown) => errorReason(error));
    const reading = engine.read((ledger) => ledger.account("bank-a", "EUR").settlementBalance).catch((error: unknown) => errorReason(error));
    // Memory already holds all three deposits; none of them may reach a caller or the store.
    gated.handedOver[2]!.release({ fail: true });
    gated.handedOver[3]!.release();
    expect(await Promise.all([failing, behind, collecting, reading])).toEqual(["STORE_UNAVAILABLE", "STORE_UNAVAILABLE", "STORE_UNAVAILABLE", "STORE_UNAVAILABLE"]);
    expect(await stored()).toBe(1_000n);

    // Memory is rebuilt from the store, on a new chain: the next deposit lands on 1,000.
    await landsAfterReload(() => deposit(5n), 1_005n);
    await engine.stop();
  });
});

describe("clearing engine answers per turn (ANSWERS_PER_TURN)", () => {
  /** Counts turns of the event loop (check phases) until stopped. */
  function turnCounter() {
    let turn = 0;
    let running = true;
    const tick = () => {
      turn += 1;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    return { now: () => turn, stop: () => { running = false; } };
  }

  it.each([
    [3, [0, 0, 0, 1, 1, 1, 2]],
    [0, [0, 0, 0, 0, 0, 0, 0]],
  ])("at %i a turn, answers a durable batch's callers in order, in turns of that many (0: all at once)", async (answersPerTurn, expectedTurns) => {
    const { engine, gated, stored, deposit } = await engineOnGatedStore({ answersPerTurn });
    const counter = turnCounter();
    const answered: Array<[number, number]> = [];
    // Seven operations in one turn: one batch.
    const calls = Array.from({ length: 7 }, (_, index) => deposit(BigInt(index + 1)).then((balance) => {
      answered.push([index, counter.now()]);
      return balance;
    }));
    await until("the batch handed over", () => gated.handedOver.length === 2);
    expect(answered).toEqual([]);
    gated.handedOver[1]!.release();
    const balances = await Promise.all(calls);
    counter.stop();
    expect(balances).toEqual([1n, 3n, 6n, 10n, 15n, 21n, 28n]);
    expect(await stored()).toBe(28n);
    expect(answered.map(([index]) => index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const first = answered[0]![1];
    expect(answered.map(([, turn]) => turn - first)).toEqual(expectedTurns);
    await engine.stop();
  });

  it("answers the callers of batches that become durable while others wait, after those, in order", async () => {
    const { engine, gated, deposit } = await engineOnGatedStore({ answersPerTurn: 2 });
    const answered: string[] = [];
    const first = Array.from({ length: 5 }, (_, index) => deposit(1n).then(() => { answered.push(`first-${index}`); }));
    await until("the first batch handed over", () => gated.handedOver.length === 2);
    const second = Array.from({ length: 3 }, (_, index) => deposit(1n).then(() => { answered.push(`second-${index}`); }));
    await until("the second batch handed over", () => gated.handedOver.length === 3);
    // Both written while this thread is held up, so both are durable before any of their callers
    // is answered: the second batch's callers queue behind the first's.
    gated.handedOver[1]!.release();
    gated.handedOver[2]!.release();
    for (let tick = 0; tick < 10; tick += 1) await Promise.resolve();
    const heldUntil = performance.now() + 200;
    while (performance.now() < heldUntil) { /* the SQLite writer thread commits both meanwhile */ }
    await Promise.all([...first, ...second]);
    expect(answered).toEqual(["first-0", "first-1", "first-2", "first-3", "first-4", "second-0", "second-1", "second-2"]);
    await engine.stop();
  });
});

describe("clearing engine event sealing", () => {
  it("fails the batch of an event that cannot be sealed: its caller is refused, nothing is handed to the store, memory reloads", async () => {
    let broken = false;
    const { engine, gated, stored, inner, landsAfterReload } = await engineOnGatedStore({
      sealEvents: (real) => (events) => {
        if (broken) throw new Error("the identity key is unusable");
        return real(events);
      },
    });
    const depositAnnounced = (amount: bigint) => engine.apply((ledger, journal) => {
      const account = ledger.deposit("bank-a", "EUR", amount);
      journal.event("clearmesh.clearing.liquidity.deposited", LiquidityDepositedSchema, create(LiquidityDepositedSchema, {
        requestId: `dep-${amount}`, participantId: "bank-a", amount: { currency: "EUR", amountMinor: amount },
      }));
      return account.settlementBalance;
    });
    broken = true;
    expect(await depositAnnounced(100n).catch((error: unknown) => errorReason(error))).toBe("STORE_UNAVAILABLE");
    expect(gated.handedOver).toHaveLength(1);
    expect(await stored()).toBeUndefined();

    broken = false;
    await landsAfterReload(() => depositAnnounced(5n), 5n);
    const announced = await inner.query<{ subject: string }>("SELECT subject FROM outbox WHERE subject = 'clearmesh.clearing.liquidity.deposited'");
    expect(announced).toHaveLength(1);
    await engine.stop();
  });
});

describe("clearing engine start-up", () => {
  it("serves before the store's transfer ids are read, checking every id against the store until then", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-known-"));
    dirs.push(dir);
    const inner = await openStore({ sqlitePath: path.join(dir, "clearing.db") });
    stores.push(inner);
    await inner.migrate([...busMigrations, ...clearingMigrations]);
    let releaseScan!: () => void;
    const scanGate = new Promise<void>((resolve) => { releaseScan = resolve; });
    const store = forwardingStore(inner, {
      query: async (sql, params) => {
        if (sql.startsWith("SELECT transfer_id FROM")) await scanGate;
        return inner.query(sql, params);
      },
    });
    const engine = new ClearingEngine({
      store, participants, policy: { thresholdPercent: 80 },
      sealEvents: createEventSealer(createSigningKey("clearing", "clearing-1", generateSeed()), Date.now),
      notifyOutbox: () => {}, now: Date.now, logger: createLogger({ service: "clearing", level: "silent" }), maxPendingOperations: 1_000,
    });
    await engine.start();
    expect(engine.ready).toBe(true);
    expect(engine.transferIdsLoaded).toBe(false);
    expect(engine.mightKnowTransfer("never-seen")).toBe(true);
    expect(await engine.apply((ledger) => ledger.deposit("bank-a", "EUR", 5n).settlementBalance)).toBe(5n);
    engine.rememberTransfer("decided-meanwhile");

    releaseScan();
    await until("the transfer ids read", () => engine.transferIdsLoaded);
    expect(engine.mightKnowTransfer("never-seen")).toBe(false);
    expect(engine.mightKnowTransfer("decided-meanwhile")).toBe(true);
    await engine.stop();
  });
});

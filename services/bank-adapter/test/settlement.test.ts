// The settlement bank in the bank-adapter (clearing issue, item 9), against a real nats-server,
// a real clearing (for the directory) and a real bank-adapter on SQLite and on PostgreSQL. The
// test plays clearing: it publishes liquidity events and settlement instructions signed with
// clearing's key, and watches the outcomes the bank-adapter signs and publishes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { connect, type NatsConnection, type Subscription } from "nats";
import { buildEnvelope, decodePayload, publishEnvelope, verifyEnvelope, type BuiltEnvelope } from "@clearmesh/bus";
import {
  BankAdapterService, ClearingService, LiquidityDepositedSchema, LiquidityWithdrawnSchema, SettlementInstructionsExecutedSchema, SettlementInstructionsFailedSchema,
  SettlementInstructionsIssuedSchema, SettlementWindowState,
} from "@clearmesh/contracts";
import { Code, createLogger, errorReason, loadSettings } from "@clearmesh/runtime";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { createSigningKey, generateSeed, type SigningKey } from "@clearmesh/trust";
import { bankAdapterSettingsSchema, startBankAdapter } from "../src/index.js";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";

const DEADLINE_MS = 10_000;
const POLL_MS = 25;

interface Outcome {
  kind: "executed" | "failed";
  windowId: string;
  attempt: number;
  instructionIds: string[];
  reason: string;
}

const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(engines)("settlement bank on $name", ({ database }) => {
  let mesh: TestMesh;
  let testDatabase: TestDatabase | undefined;
  let nc: NatsConnection;
  let subscription: Subscription;
  let clearingKey: SigningKey;
  const outcomes: Outcome[] = [];
  /** Outcome envelopes that did not verify as the bank-adapter's: must stay empty. */
  const unverified: string[] = [];
  const clients = new Map<string, ReturnType<typeof clientFor<typeof BankAdapterService>>>();

  beforeAll(async () => {
    testDatabase = await database();
    mesh = await startTestMesh({ clearingOnly: true });
    clearingKey = mesh.keys.get("clearing")!;
    // The bank-adapter's own store: on PostgreSQL a database of its own, clearing stays on SQLite.
    const environment = {
      ...mesh.environment, CLEARING_ADDRESS: `127.0.0.1:${mesh.services.clearing.grpcPort}`,
      ...(testDatabase ? { STORE_URL: testDatabase.url } : {}),
    };
    const logger = createLogger({ service: "bank-adapter", level: process.env.CLEARMESH_TEST_LOG_LEVEL ?? "silent" });
    mesh.services["bank-adapter"] = await startBankAdapter(loadSettings(bankAdapterSettingsSchema(), environment), { logger });
    await mesh.services["bank-adapter"].ready;
    nc = await connect({ servers: mesh.nats.url });
    subscription = nc.subscribe("clearmesh.settlement.instruction.*");
    void collectOutcomes(subscription);
    await nc.flush();
  }, 60_000);

  afterAll(async () => {
    for (const client of clients.values()) client.close();
    subscription?.unsubscribe();
    await nc?.drain();
    await mesh?.stop();
    await testDatabase?.drop();
  });

  async function collectOutcomes(source: Subscription): Promise<void> {
    const directory = mesh.services["bank-adapter"].directory;
    const lookup = (producer: string, keyId: string) => (producer === "bank-adapter" ? directory.activePublicKey(producer, keyId) : undefined);
    for await (const message of source) {
      if (message.subject === "clearmesh.settlement.instruction.issued") continue;
      const verified = verifyEnvelope(message.data, message.subject, lookup);
      if (!verified.ok) {
        unverified.push(`${message.subject}: ${verified.reason}`);
        continue;
      }
      if (message.subject === "clearmesh.settlement.instruction.executed") {
        const payload = decodePayload(verified.event, SettlementInstructionsExecutedSchema);
        outcomes.push({ kind: "executed", windowId: payload.windowId, attempt: payload.attempt, instructionIds: payload.instructionIds, reason: "" });
      } else {
        const payload = decodePayload(verified.event, SettlementInstructionsFailedSchema);
        outcomes.push({ kind: "failed", windowId: payload.windowId, attempt: payload.attempt, instructionIds: payload.instructionIds, reason: payload.reason });
      }
    }
  }

  function bankAdapterAs(participantId: string) {
    let client = clients.get(participantId);
    if (!client) {
      client = clientFor(mesh, "bank-adapter", BankAdapterService, mesh.keys.get(participantId)!);
      clients.set(participantId, client);
    }
    return client;
  }

  async function publishAs<Desc extends DescMessage>(key: SigningKey, subject: string, schema: Desc, message: MessageInitShape<Desc>): Promise<BuiltEnvelope> {
    const envelope = buildEnvelope(key, { subject, schema, message: create(schema, message) });
    await publishEnvelope(nc.jetstream(), envelope.bytes, envelope.id, subject);
    return envelope;
  }

  let requests = 0;
  const liquidity = (participantId: string, currency: string, amountMinor: bigint) =>
    ({ requestId: `r-${(requests += 1)}`, participantId, amount: { currency, amountMinor } });

  const deposit = (participantId: string, currency: string, amountMinor: bigint, key = clearingKey) =>
    publishAs(key, "clearmesh.clearing.liquidity.deposited", LiquidityDepositedSchema, liquidity(participantId, currency, amountMinor));
  const withdraw = (participantId: string, currency: string, amountMinor: bigint) =>
    publishAs(clearingKey, "clearmesh.clearing.liquidity.withdrawn", LiquidityWithdrawnSchema, liquidity(participantId, currency, amountMinor));

  /** Instructions `[participant, currency, net]`; ids are clearing's `<window>.<participant>.<currency>`. */
  const issue = (windowId: string, attempt: number, nets: Array<[string, string, bigint]>, key = clearingKey) =>
    publishAs(key, "clearmesh.settlement.instruction.issued", SettlementInstructionsIssuedSchema, {
      windowId, attempt,
      instructions: nets.map(([participantId, currency, netMinor]) => ({ instructionId: `${windowId}.${participantId}.${currency}`, windowId, participantId, currency, netMinor })),
    });

  /** The balance as the participant reads it over signed gRPC; undefined when it has no account. */
  async function balanceOf(participantId: string, currency: string): Promise<bigint | undefined> {
    try {
      return (await bankAdapterAs(participantId).getSettlementAccount({ participantId, currency })).balanceMinor;
    } catch (error) {
      if (errorReason(error) === "SETTLEMENT_ACCOUNT_NOT_FOUND") return undefined;
      throw error;
    }
  }

  async function waitForBalance(participantId: string, currency: string, expected: bigint): Promise<void> {
    const deadline = Date.now() + DEADLINE_MS;
    let balance = await balanceOf(participantId, currency);
    while (balance !== expected && Date.now() < deadline) {
      await delay(POLL_MS);
      balance = await balanceOf(participantId, currency);
    }
    expect([participantId, currency, balance]).toEqual([participantId, currency, expected]);
  }

  async function waitForOutcome(windowId: string, attempt: number): Promise<Outcome> {
    const deadline = Date.now() + DEADLINE_MS;
    let found = outcomes.find((outcome) => outcome.windowId === windowId && outcome.attempt === attempt);
    while (found === undefined && Date.now() < deadline) {
      await delay(POLL_MS);
      found = outcomes.find((outcome) => outcome.windowId === windowId && outcome.attempt === attempt);
    }
    if (found === undefined) throw new Error(`no outcome for ${windowId} attempt ${attempt}`);
    return found;
  }

  const outcomesOf = (windowId: string) => outcomes.filter((outcome) => outcome.windowId === windowId);

  async function expectBalances(currency: string, expected: Record<string, bigint | undefined>): Promise<void> {
    const actual: Record<string, bigint | undefined> = {};
    for (const participantId of Object.keys(expected)) actual[participantId] = await balanceOf(participantId, currency);
    expect(actual).toEqual(expected);
  }

  it("deposits and withdrawals move the books, readable by the participant and the operator only", async () => {
    await deposit("bank-a", "AUD", 1_000n);
    await deposit("bank-a", "AUD", 250n);
    await withdraw("bank-a", "AUD", 100n);
    await waitForBalance("bank-a", "AUD", 1_150n);
    const asOperator = await bankAdapterAs("operator").getSettlementAccount({ participantId: "bank-a", currency: "AUD" });
    expect(asOperator.balanceMinor).toBe(1_150n);
    expect(asOperator.participantId).toBe("bank-a");
    expect(asOperator.currency).toBe("AUD");

    const asOther = await bankAdapterAs("bank-b").getSettlementAccount({ participantId: "bank-a", currency: "AUD" }).catch((error: unknown) => error);
    expect([(asOther as { code?: Code }).code, errorReason(asOther)]).toEqual([Code.PermissionDenied, "PERMISSION_DENIED"]);
    const missing = await bankAdapterAs("bank-b").getSettlementAccount({ participantId: "bank-b", currency: "AUD" }).catch((error: unknown) => error);
    expect([(missing as { code?: Code }).code, errorReason(missing)]).toEqual([Code.NotFound, "SETTLEMENT_ACCOUNT_NOT_FOUND"]);
    const badCurrency = await bankAdapterAs("bank-a").getSettlementAccount({ participantId: "bank-a", currency: "usd" }).catch((error: unknown) => error);
    expect([(badCurrency as { code?: Code }).code, errorReason(badCurrency)]).toEqual([Code.InvalidArgument, "INVALID_ARGUMENT"]);
  });

  it("executes a balanced batch: each balance moves by its net exactly, and the outcome is signed by the bank-adapter", async () => {
    await deposit("bank-a", "CAD", 5_000n);
    await deposit("bank-b", "CAD", 3_000n);
    await waitForBalance("bank-a", "CAD", 5_000n);
    await waitForBalance("bank-b", "CAD", 3_000n);
    await issue("w-cad-1", 1, [["bank-a", "CAD", 1_200n], ["bank-b", "CAD", 300n], ["wallet-a", "CAD", -1_500n]]);
    expect(await waitForOutcome("w-cad-1", 1)).toEqual({
      kind: "executed", windowId: "w-cad-1", attempt: 1, reason: "",
      instructionIds: ["w-cad-1.bank-a.CAD", "w-cad-1.bank-b.CAD", "w-cad-1.wallet-a.CAD"],
    });
    await expectBalances("CAD", { "bank-a": 3_800n, "bank-b": 2_700n, "wallet-a": 1_500n });
    expect(unverified).toEqual([]);
  });

  it("executes a batch once when it is delivered twice and when it is re-issued", async () => {
    await deposit("bank-a", "GBP", 1_000n);
    await waitForBalance("bank-a", "GBP", 1_000n);
    const first = await issue("w-gbp-1", 1, [["bank-a", "GBP", 400n], ["bank-b", "GBP", -400n]]);
    expect((await waitForOutcome("w-gbp-1", 1)).kind).toBe("executed");
    // The same envelope under another Nats-Msg-Id: JetStream stores and delivers it again.
    const copy = await publishEnvelope(nc.jetstream(), first.bytes, `${first.id}-copy`, "clearmesh.settlement.instruction.issued");
    expect(copy.duplicate).toBe(false);
    // Clearing re-issues the window (it missed the outcome): a new event, attempt 2, same ids.
    await issue("w-gbp-1", 2, [["bank-a", "GBP", 400n], ["bank-b", "GBP", -400n]]);
    expect(await waitForOutcome("w-gbp-1", 2)).toMatchObject({ kind: "executed", instructionIds: ["w-gbp-1.bank-a.GBP", "w-gbp-1.bank-b.GBP"] });
    // The settlement consumer handles events in stream order: the copy came before attempt 2.
    expect(outcomesOf("w-gbp-1").map((outcome) => [outcome.kind, outcome.attempt])).toEqual([["executed", 1], ["executed", 2]]);
    await expectBalances("GBP", { "bank-a": 600n, "bank-b": 400n });
  });

  it("fails a batch with an underfunded debit naming exactly it and changing nothing; the retry after a deposit executes", async () => {
    await deposit("bank-a", "CHF", 1_000n);
    await deposit("bank-b", "CHF", 200n);
    await waitForBalance("bank-a", "CHF", 1_000n);
    await waitForBalance("bank-b", "CHF", 200n);
    const nets: Array<[string, string, bigint]> = [["bank-a", "CHF", 300n], ["bank-b", "CHF", 500n], ["wallet-a", "CHF", -800n]];
    await issue("w-chf-1", 1, nets);
    expect(await waitForOutcome("w-chf-1", 1)).toEqual({
      kind: "failed", windowId: "w-chf-1", attempt: 1, instructionIds: ["w-chf-1.bank-b.CHF"], reason: "INSUFFICIENT_FUNDS: bank-b CHF needs 500, has 200",
    });
    await expectBalances("CHF", { "bank-a": 1_000n, "bank-b": 200n, "wallet-a": undefined });

    await deposit("bank-b", "CHF", 300n);
    await waitForBalance("bank-b", "CHF", 500n);
    await issue("w-chf-1", 2, nets);
    expect(await waitForOutcome("w-chf-1", 2)).toMatchObject({ kind: "executed", instructionIds: ["w-chf-1.bank-a.CHF", "w-chf-1.bank-b.CHF", "w-chf-1.wallet-a.CHF"] });
    await expectBalances("CHF", { "bank-a": 700n, "bank-b": 0n, "wallet-a": 800n });
  });

  it("fails an unbalanced batch and changes nothing", async () => {
    await deposit("bank-a", "JPY", 1_000n);
    await waitForBalance("bank-a", "JPY", 1_000n);
    await issue("w-jpy-1", 1, [["bank-a", "JPY", 500n], ["bank-b", "JPY", -400n]]);
    expect(await waitForOutcome("w-jpy-1", 1)).toEqual({
      kind: "failed", windowId: "w-jpy-1", attempt: 1, instructionIds: ["w-jpy-1.bank-a.JPY", "w-jpy-1.bank-b.JPY"], reason: "UNBALANCED_BATCH: JPY nets sum to 100",
    });
    await expectBalances("JPY", { "bank-a": 1_000n, "bank-b": undefined });
  });

  it("never acts on an envelope signed by a key that is not clearing's", async () => {
    await deposit("bank-a", "SEK", 1_000n);
    await waitForBalance("bank-a", "SEK", 1_000n);
    const invalidBefore = await invalidEventCounts();
    const forgers = [
      createSigningKey("clearing", clearingKey.keyId, generateSeed()), // clearing's key id, another key: BAD_SIGNATURE
      createSigningKey("clearing", "clearing-forged", generateSeed()), // a key clearing does not have: UNKNOWN_KEY
      mesh.keys.get("bank-a")!, // a real participant's active key, but not clearing: UNKNOWN_KEY
    ];
    for (const [index, forger] of forgers.entries()) {
      await deposit("bank-a", "SEK", 1_000_000n, forger);
      await issue(`w-forged-${index}`, 1, [["bank-a", "SEK", 500n], ["bank-b", "SEK", -500n]], forger);
    }
    // Genuine events after the forged ones on both streams; each consumer handles its stream in order.
    await deposit("bank-b", "SEK", 1n);
    await issue("w-sek-1", 1, [["bank-a", "SEK", 100n], ["bank-b", "SEK", -100n]]);
    expect((await waitForOutcome("w-sek-1", 1)).kind).toBe("executed");
    await waitForBalance("bank-b", "SEK", 101n);
    await expectBalances("SEK", { "bank-a": 900n, "bank-b": 101n });
    expect(forgers.flatMap((_, index) => outcomesOf(`w-forged-${index}`))).toEqual([]);
    const invalidAfter = await invalidEventCounts();
    const added = (consumer: string, reason: string) => (invalidAfter.get(`${consumer}/${reason}`) ?? 0) - (invalidBefore.get(`${consumer}/${reason}`) ?? 0);
    expect({
      liquidityBadSignature: added("bank-adapter-liquidity", "BAD_SIGNATURE"), liquidityUnknownKey: added("bank-adapter-liquidity", "UNKNOWN_KEY"),
      settlementBadSignature: added("bank-adapter-settlement", "BAD_SIGNATURE"), settlementUnknownKey: added("bank-adapter-settlement", "UNKNOWN_KEY"),
    }).toEqual({ liquidityBadSignature: 1, liquidityUnknownKey: 2, settlementBadSignature: 1, settlementUnknownKey: 2 });
    expect(unverified).toEqual([]);
  });

  it("settles a real clearing window: liquidity, a transfer, the closed window, and both books agree", async () => {
    // Clearing enables USD for these participants; no other test here touches USD.
    const operator = mesh.operator;
    await operator.depositLiquidity({ requestId: "rt-deposit-a", participantId: "bank-a", amount: { currency: "USD", amountMinor: 10_000n } });
    await operator.depositLiquidity({ requestId: "rt-deposit-b", participantId: "bank-b", amount: { currency: "USD", amountMinor: 10_000n } });
    await operator.setNetDebitCap({ requestId: "rt-cap-a", participantId: "bank-a", cap: { currency: "USD", amountMinor: 10_000n } });
    // The books follow clearing's liquidity events; a window closed before they arrive would fail
    // INSUFFICIENT_FUNDS and need a retry, so wait for them first.
    await waitForBalance("bank-a", "USD", 10_000n);
    await waitForBalance("bank-b", "USD", 10_000n);
    const asBankA = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-a")!);
    await asBankA.createTransfer({ transferId: "rt-transfer-1", payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 2_500n } });
    asBankA.close();
    // The books before settlement: the two deposits; any other participant of the window (the
    // hub's fee account, when a fee applies) has no USD settlement account yet.
    const booksBefore = new Map([["bank-a", 10_000n], ["bank-b", 10_000n]]);
    const closed = await operator.closeSettlementWindow({ requestId: "rt-close-1" });
    expect(closed.instructions.length).toBeGreaterThan(0);
    expect(closed.instructions.find((instruction) => instruction.participantId === "bank-a")?.netMinor).toBe(2_500n);
    expect(await waitForOutcome(closed.windowId, 1)).toMatchObject({ kind: "executed", instructionIds: closed.instructions.map((instruction) => instruction.instructionId) });
    const deadline = Date.now() + DEADLINE_MS;
    let window = await operator.getSettlementWindow({ windowId: closed.windowId });
    while (window.state !== SettlementWindowState.SETTLED && Date.now() < deadline) {
      await delay(POLL_MS);
      window = await operator.getSettlementWindow({ windowId: closed.windowId });
    }
    expect(window.state).toBe(SettlementWindowState.SETTLED);
    for (const instruction of closed.instructions) {
      const books = await balanceAsOperator(instruction.participantId, "USD");
      expect([instruction.participantId, books]).toEqual([instruction.participantId, (booksBefore.get(instruction.participantId) ?? 0n) - instruction.netMinor]);
    }
    for (const participantId of ["bank-a", "bank-b"]) {
      const position = await operator.getPosition({ participantId, currency: "USD" });
      expect([participantId, position.settlementBalanceMinor]).toEqual([participantId, await balanceOf(participantId, "USD")]);
    }
    expect(await balanceOf("bank-a", "USD")).toBe(7_500n);
  });

  async function balanceAsOperator(participantId: string, currency: string): Promise<bigint | undefined> {
    try {
      return (await bankAdapterAs("operator").getSettlementAccount({ participantId, currency })).balanceMinor;
    } catch (error) {
      if (errorReason(error) === "SETTLEMENT_ACCOUNT_NOT_FOUND") return undefined;
      throw error;
    }
  }

  /** clearmesh_events_invalid_total by `consumer/reason`, read from the bank-adapter's /metrics. */
  async function invalidEventCounts(): Promise<Map<string, number>> {
    const response = await fetch(`http://127.0.0.1:${mesh.services["bank-adapter"].httpPort}/metrics`);
    const counts = new Map<string, number>();
    for (const line of (await response.text()).split("\n")) {
      const match = /^clearmesh_events_invalid_total\{([^}]*)\} (\d+)/.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map(([, name, value]) => [name, value]));
      counts.set(`${labels.consumer}/${labels.reason}`, Number(match[2]));
    }
    return counts;
  }
});

// The clearing engine over signed gRPC against a real clearing, on SQLite and on PostgreSQL:
// liquidity and caps, transfers (create, prepare, commit full and partial, hash lock, abort,
// expiry) with exact positions and fees, 1,000 concurrent payments against one cap, settlement
// windows, and the events they publish through the outbox to a verifying consumer. Every
// refusal is checked for its code, reason and field, and for having changed nothing.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { decodePayload, type VerifiedEvent } from "@clearmesh/bus";
import {
  ClearingService, LiquidityDepositedSchema, ParticipantKind, ParticipantStatus, PositionThresholdCrossedSchema,
  SettlementInstructionState, SettlementInstructionsIssuedSchema, SettlementWindowClosedSchema, SettlementWindowState,
  TransferAbortedSchema, TransferCommittedSchema, TransferExpiredSchema, TransferPreparedSchema, TransferState,
  type NetPosition, type Position, type SettlementWindow, type Transfer,
} from "@clearmesh/contracts";
import { Code } from "@clearmesh/runtime";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { createSigningKey, generateSeed, sha256 } from "@clearmesh/trust";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";
import { collectEvents, positionsOf, reasonOf, waitFor, type ClearingClient, type Refusal } from "./engine-support.js";

const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

/** USD only: fee = 10 + round_half_up(amount × 1 %); EUR has no rule, so no fee. */
const FEE_SCHEDULE = JSON.stringify([{ currency: "USD", payer_kind: "*", fixed_minor: "10", basis_points: "100" }]);
const PARTIES = ["bank-a", "bank-b", "wallet-a", "wallet-b", "acquirer-a"] as const;
const usd = (amountMinor: bigint) => ({ currency: "USD", amountMinor });
const eur = (amountMinor: bigint) => ({ currency: "EUR", amountMinor });
const expiresIn = (ms: number) => timestampFromMs(Date.now() + ms);
type Account = readonly [participantId: string, currency: string];

/** Position and reservation changes between two snapshots of the same accounts. */
function changes(before: Position[], after: Position[]): Array<[bigint, bigint]> {
  return after.map((position, index) => [position.positionMinor - before[index]!.positionMinor, position.reservedMinor - before[index]!.reservedMinor]);
}

const netText = (net: { participantId: string; currency: string; netMinor: bigint }) => `${net.currency} ${net.participantId} ${net.netMinor}`;

function sumsByCurrency(nets: readonly NetPosition[]): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const net of nets) sums.set(net.currency, (sums.get(net.currency) ?? 0n) + net.netMinor);
  return sums;
}

function sequenceOf(windowId: string): number {
  const match = /^w-(\d+)$/.exec(windowId);
  if (!match) throw new Error(`unexpected window id ${windowId}`);
  return Number(match[1]);
}

async function startEngineMesh(environment: Record<string, string>, testDatabase: TestDatabase | undefined) {
  const mesh = await startTestMesh({
    clearingOnly: true,
    environment: { EXPIRY_CHECK_MS: "20", MAX_TRANSFER_EXPIRY_MS: "120000", ...environment, ...(testDatabase ? { STORE_URL: testDatabase.url } : {}) },
  });
  const clients = Object.fromEntries(PARTIES.map((id) => [id, clientFor(mesh, "clearing", ClearingService, mesh.keys.get(id)!)])) as Record<(typeof PARTIES)[number], ClearingClient>;
  return { mesh, clients };
}

describe.each(engines)("clearing engine on $name, USD fee 10 + 1 %", ({ database }) => {
  let mesh: TestMesh;
  let testDatabase: TestDatabase | undefined;
  let op: ClearingClient;
  let c: Record<(typeof PARTIES)[number], ClearingClient>;

  beforeAll(async () => {
    testDatabase = await database();
    ({ mesh, clients: c } = await startEngineMesh({ FEE_SCHEDULE }, testDatabase));
    op = mesh.operator;
    for (const participantId of ["bank-a", "bank-b", "wallet-a", "wallet-b"]) {
      await op.depositLiquidity({ requestId: `fund-${participantId}`, participantId, amount: usd(10_000_000n) });
      await op.setNetDebitCap({ requestId: `cap-${participantId}`, participantId, cap: usd(10_000_000n) });
    }
    for (const participantId of ["bank-a", "wallet-a"]) {
      await op.depositLiquidity({ requestId: `fund-${participantId}-eur`, participantId, amount: eur(1_000_000n) });
      await op.setNetDebitCap({ requestId: `cap-${participantId}-eur`, participantId, cap: eur(1_000_000n) });
    }
  }, 60_000);
  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await mesh?.stop();
    await testDatabase?.drop();
  });

  const snapshot = (...accounts: Account[]) => positionsOf(op, accounts);
  /** The transfer as the operator reads it, or its refusal (TRANSFER_NOT_FOUND for an id that holds none). */
  const transferState = async (transferId?: string) => (transferId === undefined ? undefined : op.getTransfer({ transferId }).catch((error: unknown) => reasonOf(Promise.reject(error))));
  /** The call is refused as expected, and every listed account (and the transfer, if named) reads the same afterwards. */
  async function refusedWithoutEffect(call: () => Promise<unknown>, expected: Refusal, accounts: Account[], transferId?: string): Promise<void> {
    const before = await Promise.all([snapshot(...accounts), transferState(transferId)]);
    expect(await reasonOf(call())).toEqual(expected);
    expect(await Promise.all([snapshot(...accounts), transferState(transferId)])).toEqual(before);
  }
  const refusal = (code: Code, reason: string, field?: string): Refusal => ({ code, reason, field });
  const USD_TRIO: Account[] = [["bank-a", "USD"], ["bank-b", "USD"], ["operator", "USD"]];

  // ---- liquidity ----------------------------------------------------------------------------

  it("deposits, caps and withdraws up to the free balance, each idempotent on request_id, with exact positions", async () => {
    const account: Account[] = [["acquirer-a", "EUR"]];
    expect(await op.getPosition({ participantId: "acquirer-a", currency: "EUR" }))
      .toMatchObject({ settlementBalanceMinor: 0n, netDebitCapMinor: 0n, positionMinor: 0n, reservedMinor: 0n, freeBalanceMinor: 0n });

    const deposit = { requestId: "liq-dep-1", participantId: "acquirer-a", amount: eur(100_000n) };
    const deposited = await op.depositLiquidity(deposit);
    expect(deposited).toMatchObject({ participantId: "acquirer-a", currency: "EUR", settlementBalanceMinor: 100_000n, freeBalanceMinor: 100_000n });
    expect(await op.depositLiquidity(deposit)).toEqual(deposited);
    expect((await snapshot(...account))[0]).toEqual(deposited);
    await refusedWithoutEffect(() => op.depositLiquidity({ ...deposit, amount: eur(100_001n) }), refusal(Code.AlreadyExists, "IDEMPOTENCY_CONFLICT", "amount.amount_minor"), account);
    await refusedWithoutEffect(() => op.depositLiquidity({ ...deposit, participantId: "wallet-a" }), refusal(Code.AlreadyExists, "IDEMPOTENCY_CONFLICT", "participant_id"), [...account, ["wallet-a", "EUR"]]);

    const tooHigh = { requestId: "liq-cap-high", participantId: "acquirer-a", cap: eur(100_001n) };
    await refusedWithoutEffect(() => op.setNetDebitCap(tooHigh), refusal(Code.FailedPrecondition, "CAP_ABOVE_BALANCE", "cap.amount_minor"), account);
    await refusedWithoutEffect(() => op.setNetDebitCap(tooHigh), refusal(Code.FailedPrecondition, "CAP_ABOVE_BALANCE", "cap.amount_minor"), account);
    const cap = { requestId: "liq-cap-1", participantId: "acquirer-a", cap: eur(60_000n) };
    expect((await op.setNetDebitCap(cap)).netDebitCapMinor).toBe(60_000n);
    expect((await op.setNetDebitCap(cap)).netDebitCapMinor).toBe(60_000n);

    // Exposure: 25,000 committed and 5,000 reserved.
    await c["acquirer-a"].createTransfer({ transferId: "liq-t-1", payerId: "acquirer-a", payeeId: "wallet-b", amount: eur(25_000n) });
    await c["acquirer-a"].prepareTransfer({ transferId: "liq-t-2", payerId: "acquirer-a", payeeId: "wallet-b", amount: eur(5_000n), expiresAt: expiresIn(60_000) });
    expect(await op.getPosition({ participantId: "acquirer-a", currency: "EUR" }))
      .toMatchObject({ settlementBalanceMinor: 100_000n, netDebitCapMinor: 60_000n, positionMinor: 25_000n, reservedMinor: 5_000n, freeBalanceMinor: 70_000n });

    await refusedWithoutEffect(() => op.withdrawLiquidity({ requestId: "liq-wd-1", participantId: "acquirer-a", amount: eur(70_001n) }),
      refusal(Code.FailedPrecondition, "INSUFFICIENT_FUNDS", "amount.amount_minor"), account);
    const withdrawal = { requestId: "liq-wd-2", participantId: "acquirer-a", amount: eur(70_000n) };
    const withdrawn = await op.withdrawLiquidity(withdrawal);
    // The cap may never stay above the balance: it falls with it.
    expect(withdrawn).toMatchObject({ settlementBalanceMinor: 30_000n, netDebitCapMinor: 30_000n, positionMinor: 25_000n, reservedMinor: 5_000n, freeBalanceMinor: 0n });
    expect(await op.withdrawLiquidity(withdrawal)).toEqual(withdrawn);
    expect(await c["acquirer-a"].getPosition({ participantId: "acquirer-a", currency: "EUR" })).toEqual(withdrawn);

    await c["acquirer-a"].abortTransfer({ transferId: "liq-t-2", reason: "done" });
    expect(await op.getPosition({ participantId: "acquirer-a", currency: "EUR" }))
      .toMatchObject({ settlementBalanceMinor: 30_000n, netDebitCapMinor: 30_000n, positionMinor: 25_000n, reservedMinor: 0n, freeBalanceMinor: 5_000n });
  });

  it("names cap.amount_minor when a cap request id is reused with another cap", async () => {
    const cap = { requestId: "liq-cap-conflict", participantId: "wallet-a", cap: usd(9_000_000n) };
    await op.setNetDebitCap(cap);
    await refusedWithoutEffect(() => op.setNetDebitCap({ ...cap, cap: usd(8_000_000n) }), refusal(Code.AlreadyExists, "IDEMPOTENCY_CONFLICT", "cap.amount_minor"), [["wallet-a", "USD"]]);
    await op.setNetDebitCap({ requestId: "liq-cap-restore", participantId: "wallet-a", cap: usd(10_000_000n) });
  });

  it("lets only the operator move liquidity or set caps, and only the participant or the operator read a position", async () => {
    const account: Account[] = [["bank-a", "USD"]];
    const denied = refusal(Code.PermissionDenied, "PERMISSION_DENIED");
    await refusedWithoutEffect(() => c["bank-a"].depositLiquidity({ requestId: "self-dep", participantId: "bank-a", amount: usd(1n) }), denied, account);
    await refusedWithoutEffect(() => c["bank-a"].withdrawLiquidity({ requestId: "self-wd", participantId: "bank-a", amount: usd(1n) }), denied, account);
    await refusedWithoutEffect(() => c["bank-a"].setNetDebitCap({ requestId: "self-cap", participantId: "bank-a", cap: usd(1n) }), denied, account);
    // A denied call leaves no trace: the operator may use the same request id for its own request.
    expect((await op.depositLiquidity({ requestId: "self-dep", participantId: "bank-a", amount: usd(5n) })).settlementBalanceMinor).toBe(10_000_005n);
    expect(await reasonOf(c["bank-b"].getPosition({ participantId: "bank-a", currency: "USD" }))).toEqual(refusal(Code.PermissionDenied, "PERMISSION_DENIED", "participant_id"));
    expect((await c["bank-a"].getPosition({ participantId: "bank-a", currency: "USD" })).participantId).toBe("bank-a");
  });

  // ---- transfers ----------------------------------------------------------------------------

  it("moves payer +amount, payee -(amount - fee) and the fee account -fee, with half-up fees", async () => {
    const cases: Array<[amount: bigint, fee: bigint]> = [[10_000n, 110n], [1_250n, 23n], [50n, 11n], [49n, 10n], [11n, 10n]];
    for (const [index, [amount, fee]] of cases.entries()) {
      const before = await snapshot(...USD_TRIO);
      const transfer = await c["bank-a"].createTransfer({
        transferId: `move-${index}`, payerId: "bank-a", payeeId: "bank-b", amount: usd(amount), payerReference: "inv-7", payeeReference: "alice",
      });
      expect(transfer).toMatchObject({
        state: TransferState.COMMITTED, amount: usd(amount), fee: usd(fee), payeeAmount: usd(amount - fee), payerReference: "inv-7", payeeReference: "alice",
      });
      expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[amount, 0n], [-(amount - fee), 0n], [-fee, 0n]]);
      expect((await op.getSettlementWindow({ windowId: transfer.windowId })).state).toBe(SettlementWindowState.OPEN);
      expect(await c["bank-b"].getTransfer({ transferId: transfer.transferId })).toEqual(transfer);
      expect(await op.getTransfer({ transferId: transfer.transferId })).toEqual(transfer);
      expect(await reasonOf(c["wallet-b"].getTransfer({ transferId: transfer.transferId }))).toMatchObject({ code: Code.NotFound, reason: "TRANSFER_NOT_FOUND" });
    }
    // EUR has no fee rule.
    const eurTrio: Account[] = [["bank-a", "EUR"], ["bank-b", "EUR"], ["operator", "EUR"]];
    const before = await snapshot(...eurTrio);
    const transfer = await c["bank-a"].createTransfer({ transferId: "move-eur", payerId: "bank-a", payeeId: "bank-b", amount: eur(500n) });
    expect(transfer.fee).toMatchObject(eur(0n));
    expect(changes(before, await snapshot(...eurTrio))).toEqual([[500n, 0n], [-500n, 0n], [0n, 0n]]);
  });

  it("refuses a payment one above the cap with no effect, and keeps the refused id refused after the cap is raised", async () => {
    const accounts: Account[] = [["acquirer-a", "USD"], ["wallet-a", "USD"], ["operator", "USD"]];
    await op.depositLiquidity({ requestId: "lim-dep", participantId: "acquirer-a", amount: usd(100_000n) });
    await op.setNetDebitCap({ requestId: "lim-cap-1", participantId: "acquirer-a", cap: usd(50_000n) });
    const request = { transferId: "lim-t-1", payerId: "acquirer-a", payeeId: "wallet-a", amount: usd(50_001n) };
    const exceeded = refusal(Code.FailedPrecondition, "LIQUIDITY_LIMIT_EXCEEDED", "amount.amount_minor");
    await refusedWithoutEffect(() => c["acquirer-a"].createTransfer(request), exceeded, accounts, "lim-t-1");
    expect(await reasonOf(c["acquirer-a"].getTransfer({ transferId: "lim-t-1" }))).toMatchObject({ reason: "TRANSFER_NOT_FOUND" });

    await op.setNetDebitCap({ requestId: "lim-cap-2", participantId: "acquirer-a", cap: usd(100_000n) });
    await refusedWithoutEffect(() => c["acquirer-a"].createTransfer(request), exceeded, accounts, "lim-t-1");
    await refusedWithoutEffect(() => c["acquirer-a"].prepareTransfer({ ...request, expiresAt: expiresIn(60_000) }),
      refusal(Code.AlreadyExists, "IDEMPOTENCY_CONFLICT", "method"), accounts, "lim-t-1");

    // The same amount under a new id fits now; the cap itself is reachable exactly, not beyond.
    await c["acquirer-a"].createTransfer({ ...request, transferId: "lim-t-2" });
    await c["acquirer-a"].createTransfer({ ...request, transferId: "lim-t-3", amount: usd(49_999n) });
    expect(await op.getPosition({ participantId: "acquirer-a", currency: "USD" })).toMatchObject({ positionMinor: 100_000n, reservedMinor: 0n, netDebitCapMinor: 100_000n });
    await refusedWithoutEffect(() => c["acquirer-a"].createTransfer({ ...request, transferId: "lim-t-4", amount: usd(11n) }), exceeded, accounts, "lim-t-4");
    await refusedWithoutEffect(() => c["acquirer-a"].prepareTransfer({ ...request, transferId: "lim-t-5", amount: usd(11n), expiresAt: expiresIn(60_000) }), exceeded, accounts, "lim-t-5");
  });

  it("refuses an amount that does not cover its fee, and keeps refusing that id", async () => {
    const tooSmall = refusal(Code.InvalidArgument, "AMOUNT_TOO_SMALL", "amount.amount_minor");
    const request = { transferId: "small-t-1", payerId: "bank-a", payeeId: "bank-b", amount: usd(10n) };
    await refusedWithoutEffect(() => c["bank-a"].createTransfer(request), tooSmall, USD_TRIO, "small-t-1");
    await refusedWithoutEffect(() => c["bank-a"].createTransfer(request), tooSmall, USD_TRIO, "small-t-1");
    await refusedWithoutEffect(() => c["bank-a"].prepareTransfer({ ...request, transferId: "small-t-2", expiresAt: expiresIn(60_000) }), tooSmall, USD_TRIO, "small-t-2");
    expect(await reasonOf(c["bank-a"].getTransfer({ transferId: "small-t-1" }))).toMatchObject({ reason: "TRANSFER_NOT_FOUND" });
  });

  it("refuses payments from or to a suspended participant, and takes them again after reactivation", async () => {
    const accounts: Account[] = [["bank-a", "USD"], ["wallet-b", "USD"], ["operator", "USD"]];
    await op.setParticipantStatus({ participantId: "wallet-b", status: ParticipantStatus.SUSPENDED, reason: "test" });
    const toSuspended = { transferId: "sus-t-1", payerId: "bank-a", payeeId: "wallet-b", amount: usd(1_000n) };
    await refusedWithoutEffect(() => c["bank-a"].createTransfer(toSuspended), refusal(Code.FailedPrecondition, "PARTICIPANT_INACTIVE", "payee_id"), accounts, "sus-t-1");
    await refusedWithoutEffect(() => c["wallet-b"].createTransfer({ transferId: "sus-t-2", payerId: "wallet-b", payeeId: "bank-a", amount: usd(1_000n) }),
      refusal(Code.FailedPrecondition, "PARTICIPANT_INACTIVE", "payer_id"), accounts, "sus-t-2");
    await refusedWithoutEffect(() => c["bank-a"].prepareTransfer({ ...toSuspended, transferId: "sus-t-3", expiresAt: expiresIn(60_000) }),
      refusal(Code.FailedPrecondition, "PARTICIPANT_INACTIVE", "payee_id"), accounts, "sus-t-3");

    await op.setParticipantStatus({ participantId: "wallet-b", status: ParticipantStatus.ACTIVE, reason: "test over" });
    await refusedWithoutEffect(() => c["bank-a"].createTransfer(toSuspended), refusal(Code.FailedPrecondition, "PARTICIPANT_INACTIVE", "payee_id"), accounts, "sus-t-1");
    const before = await snapshot(...accounts);
    expect((await c["bank-a"].createTransfer({ ...toSuspended, transferId: "sus-t-4" })).state).toBe(TransferState.COMMITTED);
    expect((await c["wallet-b"].createTransfer({ transferId: "sus-t-5", payerId: "wallet-b", payeeId: "bank-a", amount: usd(1_000n) })).state).toBe(TransferState.COMMITTED);
    // 1,000 each way, fee 20 each: bank-a +1,000 -980, wallet-b -980 +1,000, operator -40.
    expect(changes(before, await snapshot(...accounts))).toEqual([[20n, 0n], [20n, 0n], [-40n, 0n]]);
  });

  it("requires a bounded future expiry on prepare, reserves, and lets only the payee commit", async () => {
    const base = { payerId: "bank-a", payeeId: "bank-b", amount: usd(2_000n), payeeReference: "bob" };
    const badExpiries = [undefined, timestampFromMs(Date.now() - 1_000), expiresIn(180_000)];
    for (const [index, expiresAt] of badExpiries.entries()) {
      await refusedWithoutEffect(() => c["bank-a"].prepareTransfer({ ...base, transferId: `pre-bad-${index}`, expiresAt }),
        refusal(Code.InvalidArgument, "INVALID_ARGUMENT", "expires_at"), USD_TRIO, `pre-bad-${index}`);
    }
    const before = await snapshot(...USD_TRIO);
    const prepared = await c["bank-a"].prepareTransfer({ ...base, transferId: "pre-t-1", expiresAt: expiresIn(60_000) });
    expect(prepared).toMatchObject({ state: TransferState.RESERVED, windowId: "", fee: usd(30n), payeeAmount: usd(1_970n), payeeReference: "bob" });
    expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[0n, 2_000n], [0n, 0n], [0n, 0n]]);
    expect(await c["bank-b"].getTransfer({ transferId: "pre-t-1" })).toEqual(prepared);

    const denied = refusal(Code.PermissionDenied, "PERMISSION_DENIED", "transfer_id");
    await refusedWithoutEffect(() => c["bank-a"].commitTransfer({ transferId: "pre-t-1" }), denied, USD_TRIO, "pre-t-1");
    await refusedWithoutEffect(() => c["wallet-a"].commitTransfer({ transferId: "pre-t-1" }), denied, USD_TRIO, "pre-t-1");
    await refusedWithoutEffect(() => op.commitTransfer({ transferId: "pre-t-1" }), denied, USD_TRIO, "pre-t-1");

    const committed = await c["bank-b"].commitTransfer({ transferId: "pre-t-1" });
    expect(committed).toMatchObject({ state: TransferState.COMMITTED, amount: usd(2_000n), fee: usd(30n), payeeAmount: usd(1_970n) });
    expect(committed.windowId).toMatch(/^w-\d+$/);
    expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[2_000n, 0n], [-1_970n, 0n], [-30n, 0n]]);

    // A repeated commit answers the committed transfer and changes nothing.
    const afterCommit = await snapshot(...USD_TRIO);
    expect(await c["bank-b"].commitTransfer({ transferId: "pre-t-1" })).toEqual(committed);
    expect(await snapshot(...USD_TRIO)).toEqual(afterCommit);
    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "pre-t-1", amount: usd(1_000n) }),
      refusal(Code.AlreadyExists, "IDEMPOTENCY_CONFLICT", "amount.amount_minor"), USD_TRIO, "pre-t-1");
    await refusedWithoutEffect(() => c["bank-a"].abortTransfer({ transferId: "pre-t-1" }), refusal(Code.FailedPrecondition, "TRANSFER_COMMITTED", "transfer_id"), USD_TRIO, "pre-t-1");
    expect(await c["bank-a"].getTransfer({ transferId: "pre-t-1" })).toEqual(committed);
  });

  it("commits part of a prepared amount, releasing the rest and charging the fee on the committed part", async () => {
    const before = await snapshot(...USD_TRIO);
    await c["bank-a"].prepareTransfer({ transferId: "part-t-1", payerId: "bank-a", payeeId: "bank-b", amount: usd(10_000n), expiresAt: expiresIn(60_000) });
    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "part-t-1", amount: usd(10_001n) }),
      refusal(Code.InvalidArgument, "PARTIAL_AMOUNT_TOO_LARGE", "amount.amount_minor"), USD_TRIO, "part-t-1");
    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "part-t-1", amount: usd(10n) }),
      refusal(Code.InvalidArgument, "AMOUNT_TOO_SMALL", "amount.amount_minor"), USD_TRIO, "part-t-1");
    expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[0n, 10_000n], [0n, 0n], [0n, 0n]]);

    const committed = await c["bank-b"].commitTransfer({ transferId: "part-t-1", amount: usd(4_000n) });
    expect(committed).toMatchObject({ state: TransferState.COMMITTED, amount: usd(4_000n), preparedAmount: usd(10_000n), fee: usd(50n), payeeAmount: usd(3_950n) });
    expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[4_000n, 0n], [-3_950n, 0n], [-50n, 0n]]);
    expect(await c["bank-b"].commitTransfer({ transferId: "part-t-1", amount: usd(4_000n) })).toEqual(committed);
  });

  it("checks the hash lock: SHA-256 of the fulfilment must be the condition", async () => {
    const fulfilment = new Uint8Array(randomBytes(32));
    const condition = sha256(fulfilment);
    const base = { payerId: "bank-a", payeeId: "bank-b", amount: usd(3_000n), expiresAt: expiresIn(60_000) };
    await refusedWithoutEffect(() => c["bank-a"].prepareTransfer({ ...base, transferId: "lock-bad", condition: condition.subarray(0, 31) }),
      refusal(Code.InvalidArgument, "INVALID_ARGUMENT", "condition"), USD_TRIO, "lock-bad");
    const before = await snapshot(...USD_TRIO);
    const prepared = await c["bank-a"].prepareTransfer({ ...base, transferId: "lock-t-1", condition });
    expect(Buffer.from(prepared.condition).equals(Buffer.from(condition))).toBe(true);
    const mismatch = refusal(Code.FailedPrecondition, "FULFILMENT_MISMATCH", "fulfilment");
    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "lock-t-1", fulfilment: new Uint8Array(randomBytes(32)) }), mismatch, USD_TRIO, "lock-t-1");
    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "lock-t-1", fulfilment: condition }), mismatch, USD_TRIO, "lock-t-1");
    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "lock-t-1" }), mismatch, USD_TRIO, "lock-t-1");
    expect((await c["bank-b"].commitTransfer({ transferId: "lock-t-1", fulfilment })).state).toBe(TransferState.COMMITTED);
    expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[3_000n, 0n], [-2_960n, 0n], [-40n, 0n]]);
  });

  it("aborts by payer or payee, releasing the reservation; commit after abort is TRANSFER_ABORTED", async () => {
    const before = await snapshot(...USD_TRIO);
    const base = { payerId: "bank-a", payeeId: "bank-b", amount: usd(1_500n), expiresAt: expiresIn(60_000) };
    await c["bank-a"].prepareTransfer({ ...base, transferId: "abort-t-1" });
    await c["bank-a"].prepareTransfer({ ...base, transferId: "abort-t-2" });
    expect(changes(before, await snapshot(...USD_TRIO))).toEqual([[0n, 3_000n], [0n, 0n], [0n, 0n]]);
    await refusedWithoutEffect(() => c["wallet-a"].abortTransfer({ transferId: "abort-t-1" }), refusal(Code.PermissionDenied, "PERMISSION_DENIED", "transfer_id"), USD_TRIO, "abort-t-1");

    const byPayer = await c["bank-a"].abortTransfer({ transferId: "abort-t-1", reason: "changed my mind" });
    expect(byPayer.state).toBe(TransferState.ABORTED);
    const byPayee = await c["bank-b"].abortTransfer({ transferId: "abort-t-2", reason: "unknown account" });
    expect(byPayee.state).toBe(TransferState.ABORTED);
    expect(await snapshot(...USD_TRIO)).toEqual(before);

    await refusedWithoutEffect(() => c["bank-b"].commitTransfer({ transferId: "abort-t-1" }), refusal(Code.FailedPrecondition, "TRANSFER_ABORTED", "transfer_id"), USD_TRIO, "abort-t-1");
    expect(await c["bank-a"].abortTransfer({ transferId: "abort-t-1" })).toEqual(byPayer);
    expect(await c["bank-a"].getTransfer({ transferId: "abort-t-2" })).toEqual(byPayee);
  });

  it("expires a prepared transfer by itself, releasing its reservation; commit after is TRANSFER_EXPIRED", async () => {
    const accounts: Account[] = [["bank-a", "USD"], ["wallet-a", "USD"], ["operator", "USD"]];
    const before = await snapshot(...accounts);
    const prepared = await c["bank-a"].prepareTransfer({ transferId: "exp-t-1", payerId: "bank-a", payeeId: "wallet-a", amount: usd(700n), expiresAt: expiresIn(600) });
    expect(prepared.state).toBe(TransferState.RESERVED);
    const expired = await waitFor("exp-t-1 to expire", async () => {
      const transfer = await c["bank-a"].getTransfer({ transferId: "exp-t-1" });
      return transfer.state === TransferState.EXPIRED ? transfer : undefined;
    });
    expect(expired.completedAt).toBeDefined();
    expect(await snapshot(...accounts)).toEqual(before);
    await refusedWithoutEffect(() => c["wallet-a"].commitTransfer({ transferId: "exp-t-1" }), refusal(Code.FailedPrecondition, "TRANSFER_EXPIRED", "transfer_id"), accounts, "exp-t-1");
    await refusedWithoutEffect(() => c["bank-a"].abortTransfer({ transferId: "exp-t-1" }), refusal(Code.FailedPrecondition, "TRANSFER_EXPIRED", "transfer_id"), accounts, "exp-t-1");
  });

  it("lists a participant's transfers newest first, paged and filtered by state, to itself and the operator only", async () => {
    const createdFrom = timestampFromMs(Date.now());
    const base = { payerId: "wallet-a", payeeId: "bank-b", amount: eur(100n) };
    for (let index = 0; index < 5; index += 1) await c["wallet-a"].createTransfer({ ...base, transferId: `list-${index}` });
    for (let index = 5; index < 7; index += 1) await c["wallet-a"].prepareTransfer({ ...base, transferId: `list-${index}`, expiresAt: expiresIn(60_000) });

    async function listAll(client: ClearingClient, participantId: string, state = TransferState.UNSPECIFIED): Promise<Transfer[]> {
      const seen: Transfer[] = [];
      let pageToken = "";
      do {
        const page = await client.listTransfers({ participantId, state, createdFrom, page: { pageSize: 2, pageToken } });
        expect(page.transfers.length).toBeLessThanOrEqual(2);
        seen.push(...page.transfers);
        pageToken = page.page?.nextPageToken ?? "";
      } while (pageToken);
      return seen;
    }
    const ids = (transfers: Transfer[]) => transfers.map((transfer) => transfer.transferId);
    expect(ids(await listAll(c["wallet-a"], "wallet-a"))).toEqual(["list-6", "list-5", "list-4", "list-3", "list-2", "list-1", "list-0"]);
    expect(ids(await listAll(c["bank-b"], "bank-b"))).toEqual(["list-6", "list-5", "list-4", "list-3", "list-2", "list-1", "list-0"]);
    expect(ids(await listAll(op, "wallet-a", TransferState.RESERVED))).toEqual(["list-6", "list-5"]);
    expect(ids(await listAll(c["wallet-a"], "wallet-a", TransferState.COMMITTED))).toEqual(["list-4", "list-3", "list-2", "list-1", "list-0"]);
    expect(await reasonOf(c["wallet-a"].listTransfers({ participantId: "bank-b" }))).toEqual(refusal(Code.PermissionDenied, "PERMISSION_DENIED", "participant_id"));

    await c["wallet-a"].abortTransfer({ transferId: "list-5" });
    await c["bank-b"].abortTransfer({ transferId: "list-6" });
    expect(ids(await listAll(c["wallet-a"], "wallet-a", TransferState.ABORTED))).toEqual(["list-6", "list-5"]);
    expect(await listAll(c["wallet-a"], "wallet-a", TransferState.RESERVED)).toEqual([]);
  });

  // ---- concurrency --------------------------------------------------------------------------

  async function payConcurrently(payer: (typeof PARTIES)[number], payee: string, amounts: bigint[], prefix: string) {
    const client = c[payer];
    return Promise.all(amounts.map(async (amount, index) => {
      try {
        const transfer = await client.createTransfer({ transferId: `${prefix}-${index}`, payerId: payer, payeeId: payee, amount: eur(amount) });
        return { amount, transfer, refusal: undefined };
      } catch (error) {
        return { amount, transfer: undefined, refusal: await reasonOf(Promise.reject(error)) };
      }
    }));
  }

  it("never lets 1,000 concurrent payments of 1..1,000 from one payer exceed its cap, nor refuse one that fitted", async () => {
    await op.depositLiquidity({ requestId: "conc-dep", participantId: "bank-b", amount: eur(200_000n) });
    await op.setNetDebitCap({ requestId: "conc-cap", participantId: "bank-b", cap: eur(100_000n) });
    const [before] = await snapshot(["bank-b", "EUR"]);
    const amounts = Array.from({ length: 1_000 }, (_, index) => BigInt(index + 1)); // sum 500,500: well above the cap
    const outcomes = await payConcurrently("bank-b", "bank-a", amounts, "conc-a");
    const [after] = await snapshot(["bank-b", "EUR"]);

    const committed = outcomes.filter((outcome) => outcome.transfer);
    const refused = outcomes.filter((outcome) => outcome.refusal);
    expect(committed.length + refused.length).toBe(1_000);
    expect(committed.every((outcome) => outcome.transfer!.state === TransferState.COMMITTED)).toBe(true);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((outcome) => outcome.refusal!.reason === "LIQUIDITY_LIMIT_EXCEEDED" && outcome.refusal!.code === Code.FailedPrecondition)).toBe(true);
    expect(after!.positionMinor + after!.reservedMinor).toBeLessThanOrEqual(100_000n);
    expect(after!.reservedMinor).toBe(0n);
    expect(after!.positionMinor - before!.positionMinor).toBe(committed.reduce((sum, outcome) => sum + outcome.amount, 0n));
    // Headroom only shrank, so every refused payment was larger than the headroom left at the end.
    const smallestRefused = refused.reduce((least, outcome) => (outcome.amount < least ? outcome.amount : least), amounts.at(-1)!);
    expect(after!.netDebitCapMinor - after!.positionMinor).toBeLessThan(smallestRefused);
  }, 120_000);

  it("lets exactly headroom / amount of 400 concurrent equal payments through", async () => {
    const [start] = await snapshot(["acquirer-a", "EUR"]);
    const exposure = start!.positionMinor + start!.reservedMinor;
    const cap = (exposure > 0n ? exposure : 0n) + 10_000n;
    const fits = Number((cap - exposure) / 100n); // 100 when the exposure is not negative
    expect(fits).toBeLessThan(400);
    await op.depositLiquidity({ requestId: "conc-dep-2", participantId: "acquirer-a", amount: eur(cap) });
    await op.setNetDebitCap({ requestId: "conc-cap-2", participantId: "acquirer-a", cap: eur(cap) });
    const outcomes = await payConcurrently("acquirer-a", "wallet-a", Array.from({ length: 400 }, () => 100n), "conc-b");
    const [after] = await snapshot(["acquirer-a", "EUR"]);
    expect(outcomes.filter((outcome) => outcome.transfer?.state === TransferState.COMMITTED).length).toBe(fits);
    expect(outcomes.filter((outcome) => outcome.refusal?.reason === "LIQUIDITY_LIMIT_EXCEEDED").length).toBe(400 - fits);
    expect(after!.positionMinor - start!.positionMinor).toBe(BigInt(fits) * 100n);
    expect(after!.positionMinor + after!.reservedMinor).toBeLessThanOrEqual(cap);
    expect(cap - after!.positionMinor - after!.reservedMinor).toBeLessThan(100n);
  }, 120_000);

  // ---- settlement windows ---------------------------------------------------------------------

  let firstClosed: SettlementWindow;
  let secondClosed: SettlementWindow;
  let emptyClosed: SettlementWindow;

  it("closes the window into zero-sum nets and one instruction per non-zero net, and opens the next one at once", async () => {
    const accounts: Account[] = ["operator", ...PARTIES].flatMap((id) => [[id, "USD"], [id, "EUR"]] as Account[]);
    const positions = await snapshot(...accounts);
    // Prepared in this window, committed in the next: it belongs to the next.
    await c["bank-a"].prepareTransfer({ transferId: "win-t-1", payerId: "bank-a", payeeId: "bank-b", amount: usd(1_000n), expiresAt: expiresIn(60_000) });

    await expect(reasonOf(c["bank-a"].closeSettlementWindow({ requestId: "close-by-bank" }))).resolves.toEqual(refusal(Code.PermissionDenied, "PERMISSION_DENIED"));
    const closeRequest = { requestId: "close-1" };
    firstClosed = await op.closeSettlementWindow(closeRequest);
    expect(firstClosed.state).toBe(SettlementWindowState.SETTLING);
    expect(firstClosed.closedAt).toBeDefined();
    expect(firstClosed.attempt).toBe(1);
    expect(firstClosed.transferCount).toBeGreaterThan(100n);
    for (const sum of sumsByCurrency(firstClosed.netPositions).values()) expect(sum).toBe(0n);
    // Nothing has settled yet on this mesh, so the first window's nets are today's positions.
    const netOf = (participantId: string, currency: string) =>
      firstClosed.netPositions.find((net) => net.participantId === participantId && net.currency === currency)?.netMinor ?? 0n;
    expect(accounts.map(([id, currency]) => netOf(id, currency))).toEqual(positions.map((position) => position.positionMinor));
    const nonZero = firstClosed.netPositions.filter((net) => net.netMinor !== 0n).map(netText).sort();
    expect(firstClosed.instructions.map(netText).sort()).toEqual(nonZero);
    expect(new Set(firstClosed.instructions.map((instruction) => instruction.instructionId)).size).toBe(firstClosed.instructions.length);
    for (const instruction of firstClosed.instructions) {
      expect(instruction).toMatchObject({ windowId: firstClosed.windowId, state: SettlementInstructionState.ISSUED });
    }

    const nextId = `w-${sequenceOf(firstClosed.windowId) + 1}`;
    expect((await op.getSettlementWindow({ windowId: nextId })).state).toBe(SettlementWindowState.OPEN);
    expect(await op.getSettlementWindow({ windowId: firstClosed.windowId })).toMatchObject({ state: SettlementWindowState.SETTLING, netPositions: firstClosed.netPositions });
    expect((await c["bank-b"].commitTransfer({ transferId: "win-t-1" })).windowId).toBe(nextId);
    expect((await c["bank-a"].createTransfer({ transferId: "win-t-2", payerId: "bank-a", payeeId: "wallet-a", amount: usd(2_000n) })).windowId).toBe(nextId);

    // The same request id answers the same closed window and closes nothing else.
    expect(await op.closeSettlementWindow(closeRequest)).toEqual(firstClosed);
    expect(await op.getSettlementWindow({ windowId: nextId })).toMatchObject({ state: SettlementWindowState.OPEN, transferCount: 2n });
    // Positions do not move until the settlement bank executes.
    expect((await snapshot(...accounts)).map((position) => position.settlementBalanceMinor)).toEqual(positions.map((position) => position.settlementBalanceMinor));

    secondClosed = await op.closeSettlementWindow({ requestId: "close-2" });
    expect(secondClosed.windowId).toBe(nextId);
    expect(secondClosed.state).toBe(SettlementWindowState.SETTLING);
    // win-t-1: 1,000 fee 20; win-t-2: 2,000 fee 30.
    expect(secondClosed.netPositions.map(netText).sort()).toEqual(
      ["USD bank-a 3000", "USD bank-b -980", "USD operator -50", "USD wallet-a -1970"].sort());
  });

  it("closes an empty window straight to SETTLED and lists windows newest first", async () => {
    emptyClosed = await op.closeSettlementWindow({ requestId: "close-3" });
    expect(emptyClosed).toMatchObject({ windowId: `w-${sequenceOf(secondClosed.windowId) + 1}`, state: SettlementWindowState.SETTLED, netPositions: [], instructions: [] });
    expect(emptyClosed.settledAt).toBeDefined();
    const openId = `w-${sequenceOf(emptyClosed.windowId) + 1}`;
    expect((await op.getSettlementWindow({ windowId: openId })).state).toBe(SettlementWindowState.OPEN);

    const seen: SettlementWindow[] = [];
    let pageToken = "";
    do {
      const page = await c["bank-a"].listSettlementWindows({ page: { pageSize: 2, pageToken } });
      expect(page.windows.length).toBeLessThanOrEqual(2);
      seen.push(...page.windows);
      pageToken = page.page?.nextPageToken ?? "";
    } while (pageToken);
    expect(seen.map((window) => window.windowId)).toEqual([openId, emptyClosed.windowId, secondClosed.windowId, firstClosed.windowId]);
    expect(seen.map((window) => window.state)).toEqual([SettlementWindowState.OPEN, SettlementWindowState.SETTLED, SettlementWindowState.SETTLING, SettlementWindowState.SETTLING]);
    const settled = await op.listSettlementWindows({ state: SettlementWindowState.SETTLED });
    expect(settled.windows.map((window) => window.windowId)).toEqual([emptyClosed.windowId]);
    expect(await reasonOf(op.getSettlementWindow({ windowId: "w-999" }))).toMatchObject({ code: Code.NotFound, reason: "WINDOW_NOT_FOUND" });
  });

  it("reports to each participant only its own nets and instructions", async () => {
    const own = (participantId: string) => ({
      netPositions: firstClosed.netPositions.filter((net) => net.participantId === participantId),
      instructions: firstClosed.instructions.filter((instruction) => instruction.participantId === participantId),
    });
    const report = await c["bank-a"].getSettlementReport({ windowId: firstClosed.windowId });
    expect(report).toMatchObject({ windowId: firstClosed.windowId, participantId: "bank-a", state: SettlementWindowState.SETTLING, ...own("bank-a") });
    expect(report.netPositions.length).toBeGreaterThan(0);
    expect(await c["bank-a"].getSettlementReport({ windowId: firstClosed.windowId, participantId: "bank-a" })).toEqual(report);
    expect(await op.getSettlementReport({ windowId: firstClosed.windowId, participantId: "bank-b" })).toMatchObject({ participantId: "bank-b", ...own("bank-b") });
    expect(await reasonOf(c["bank-a"].getSettlementReport({ windowId: firstClosed.windowId, participantId: "bank-b" })))
      .toEqual(refusal(Code.PermissionDenied, "PERMISSION_DENIED", "participant_id"));
  });

  it("retries only FAILED windows, and only for the operator", async () => {
    const openId = `w-${sequenceOf(emptyClosed.windowId) + 1}`;
    const states = async () => Promise.all([firstClosed.windowId, emptyClosed.windowId, openId].map(async (windowId) => (await op.getSettlementWindow({ windowId })).state));
    const before = await states();
    const notFailed = refusal(Code.FailedPrecondition, "WINDOW_NOT_FAILED", "window_id");
    expect(await reasonOf(op.retrySettlementWindow({ requestId: "retry-1", windowId: firstClosed.windowId }))).toEqual(notFailed);
    expect(await reasonOf(op.retrySettlementWindow({ requestId: "retry-2", windowId: emptyClosed.windowId }))).toEqual(notFailed);
    expect(await reasonOf(op.retrySettlementWindow({ requestId: "retry-3", windowId: openId }))).toEqual(notFailed);
    expect(await reasonOf(op.retrySettlementWindow({ requestId: "retry-4", windowId: "w-999" }))).toMatchObject({ code: Code.NotFound, reason: "WINDOW_NOT_FOUND" });
    expect(await reasonOf(c["bank-a"].retrySettlementWindow({ requestId: "retry-5", windowId: firstClosed.windowId }))).toEqual(refusal(Code.PermissionDenied, "PERMISSION_DENIED"));
    expect(await states()).toEqual(before);
  });

  // ---- events -------------------------------------------------------------------------------

  it("publishes verified transfer, liquidity, threshold and settlement events with their payloads", async () => {
    const clearingEvents = await collectEvents(mesh, "CLEARMESH_CLEARING", "clearmesh.clearing.>", "engine-clearing");
    const settlementEvents = await collectEvents(mesh, "CLEARMESH_SETTLEMENT", "clearmesh.settlement.>", "engine-settlement");
    try {
      // A fresh participant, so its threshold crossing is the only one on its account.
      const key = createSigningKey("bank-ev", "bank-ev-1", generateSeed());
      await op.registerParticipant({ participantId: "bank-ev", name: "Bank Ev", kind: ParticipantKind.BANK, currencies: ["EUR"], keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
      const bankEv = clientFor(mesh, "clearing", ClearingService, key);
      await op.depositLiquidity({ requestId: "ev-dep", participantId: "bank-ev", amount: eur(10_000n) });
      await op.setNetDebitCap({ requestId: "ev-cap", participantId: "bank-ev", cap: eur(10_000n) });
      await bankEv.createTransfer({ transferId: "ev-below", payerId: "bank-ev", payeeId: "bank-a", amount: eur(7_999n) }); // 79.99 % of the cap
      await bankEv.createTransfer({ transferId: "ev-cross", payerId: "bank-ev", payeeId: "bank-a", amount: eur(1n) }); // exactly 80 %
      bankEv.close();

      const base = { payerId: "bank-a", payeeId: "bank-b", amount: usd(1_000n), payerReference: "inv-9", payeeReference: "alice" };
      await c["bank-a"].prepareTransfer({ ...base, transferId: "ev-t-1", expiresAt: expiresIn(60_000) });
      await c["bank-b"].commitTransfer({ transferId: "ev-t-1" });
      await c["bank-a"].prepareTransfer({ ...base, transferId: "ev-t-2", expiresAt: expiresIn(60_000) });
      await c["bank-a"].abortTransfer({ transferId: "ev-t-2", reason: "customer cancelled" });
      await c["bank-a"].prepareTransfer({ ...base, transferId: "ev-t-3", expiresAt: expiresIn(300) });

      const find = (collector: typeof clearingEvents, match: (event: VerifiedEvent) => boolean) =>
        waitFor("an event", () => collector.events.find(match));
      // The clearing stream is in order: once the expiry is in, everything before it is too.
      const expired = decodePayload(await find(clearingEvents, (event) => event.subject === "clearmesh.clearing.transfer.expired" && decodePayload(event, TransferExpiredSchema).transferId === "ev-t-3"), TransferExpiredSchema);
      expect(expired.transfer).toMatchObject({ state: TransferState.EXPIRED, payerReference: "inv-9", payeeReference: "alice" });

      const closed = await op.closeSettlementWindow({ requestId: "ev-close" });

      const byType = <T>(subject: string, read: (event: VerifiedEvent) => T) => clearingEvents.events.filter((event) => event.subject === subject).map(read);
      const prepared = byType("clearmesh.clearing.transfer.prepared", (event) => decodePayload(event, TransferPreparedSchema)).find((payload) => payload.transferId === "ev-t-1");
      expect(prepared?.transfer).toMatchObject({ transferId: "ev-t-1", payerId: "bank-a", payeeId: "bank-b", state: TransferState.RESERVED, amount: usd(1_000n), fee: usd(20n), payerReference: "inv-9", payeeReference: "alice" });
      // A one-step transfer announces its commit only.
      expect(byType("clearmesh.clearing.transfer.committed", (event) => decodePayload(event, TransferCommittedSchema).transferId)).toContain("ev-below");
      expect(byType("clearmesh.clearing.transfer.prepared", (event) => decodePayload(event, TransferPreparedSchema).transferId)).not.toContain("ev-below");
      const committed = byType("clearmesh.clearing.transfer.committed", (event) => decodePayload(event, TransferCommittedSchema)).find((payload) => payload.transferId === "ev-t-1");
      expect(committed?.transfer).toMatchObject({ state: TransferState.COMMITTED, amount: usd(1_000n), fee: usd(20n), payeeAmount: usd(980n), payeeReference: "alice" });
      expect(committed?.transfer?.windowId).toBe(closed.windowId);
      const aborted = byType("clearmesh.clearing.transfer.aborted", (event) => decodePayload(event, TransferAbortedSchema)).find((payload) => payload.transferId === "ev-t-2");
      expect(aborted).toMatchObject({ reason: "customer cancelled", transfer: { state: TransferState.ABORTED, payerId: "bank-a" } });
      const deposited = byType("clearmesh.clearing.liquidity.deposited", (event) => decodePayload(event, LiquidityDepositedSchema)).find((payload) => payload.requestId === "ev-dep");
      expect(deposited).toMatchObject({ participantId: "bank-ev", amount: eur(10_000n), position: { settlementBalanceMinor: 10_000n } });
      const crossings = byType("clearmesh.clearing.position.threshold_crossed", (event) => decodePayload(event, PositionThresholdCrossedSchema))
        .filter((payload) => payload.participantId === "bank-ev");
      // One crossing, upwards, at the payment that reached 80 %; none at 79.99 %.
      expect(crossings.map((payload) => ({ ...payload }))).toEqual([
        expect.objectContaining({ currency: "EUR", exposureMinor: 8_000n, netDebitCapMinor: 10_000n, thresholdPercent: 80, above: true }),
      ]);

      const windowClosed = decodePayload(await find(settlementEvents, (event) => event.subject === "clearmesh.settlement.window.closed"
        && decodePayload(event, SettlementWindowClosedSchema).window?.windowId === closed.windowId), SettlementWindowClosedSchema);
      expect(windowClosed.window?.netPositions).toEqual(closed.netPositions);
      for (const sum of sumsByCurrency(windowClosed.window!.netPositions).values()) expect(sum).toBe(0n);
      const issued = decodePayload(await find(settlementEvents, (event) => event.subject === "clearmesh.settlement.instruction.issued"
        && decodePayload(event, SettlementInstructionsIssuedSchema).windowId === closed.windowId), SettlementInstructionsIssuedSchema);
      expect(issued.attempt).toBe(1);
      expect(issued.instructions.map((instruction) => `${instruction.instructionId} ${netText(instruction)}`).sort())
        .toEqual(closed.instructions.map((instruction) => `${instruction.instructionId} ${netText(instruction)}`).sort());
      expect(issued.instructions.length).toBeGreaterThan(0);

      for (const event of [...clearingEvents.events, ...settlementEvents.events]) {
        expect(event.producer).toBe("clearing");
        expect(event.envelope.subject).toBe(event.subject);
      }
      expect(clearingEvents.invalid).toEqual([]);
      expect(settlementEvents.invalid).toEqual([]);
    } finally {
      await clearingEvents.stop();
      await settlementEvents.stop();
    }
  });
});

describe("clearing engine without fees (SQLite)", () => {
  let mesh: TestMesh;
  let c: Record<(typeof PARTIES)[number], ClearingClient>;
  const trio: Account[] = [["bank-a", "USD"], ["bank-b", "USD"], ["operator", "USD"]];

  beforeAll(async () => {
    ({ mesh, clients: c } = await startEngineMesh({}, undefined));
    await mesh.operator.depositLiquidity({ requestId: "fund-bank-a", participantId: "bank-a", amount: usd(1_000_000n) });
    await mesh.operator.setNetDebitCap({ requestId: "cap-bank-a", participantId: "bank-a", cap: usd(1_000_000n) });
  }, 60_000);
  afterAll(async () => {
    for (const client of Object.values(c ?? {})) client.close();
    await mesh?.stop();
  });

  it("moves the whole amount to the payee and nothing to the fee account, down to one minor unit", async () => {
    const before = await positionsOf(mesh.operator, trio);
    const transfer = await c["bank-a"].createTransfer({ transferId: "nofee-1", payerId: "bank-a", payeeId: "bank-b", amount: usd(1n) });
    expect(transfer).toMatchObject({ state: TransferState.COMMITTED, fee: usd(0n), payeeAmount: usd(1n) });
    expect(changes(before, await positionsOf(mesh.operator, trio))).toEqual([[1n, 0n], [-1n, 0n], [0n, 0n]]);
    expect(await mesh.operator.getPosition({ participantId: "operator", currency: "USD" })).toMatchObject({ positionMinor: 0n, reservedMinor: 0n });
  });

  it("commits part of a prepared amount with no fee and releases the rest", async () => {
    const before = await positionsOf(mesh.operator, trio);
    await c["bank-a"].prepareTransfer({ transferId: "nofee-2", payerId: "bank-a", payeeId: "bank-b", amount: usd(1_000n), expiresAt: expiresIn(60_000) });
    expect(changes(before, await positionsOf(mesh.operator, trio))).toEqual([[0n, 1_000n], [0n, 0n], [0n, 0n]]);
    const committed = await c["bank-b"].commitTransfer({ transferId: "nofee-2", amount: usd(1n) });
    expect(committed).toMatchObject({ amount: usd(1n), fee: usd(0n), payeeAmount: usd(1n), preparedAmount: usd(1_000n) });
    expect(changes(before, await positionsOf(mesh.operator, trio))).toEqual([[1n, 0n], [-1n, 0n], [0n, 0n]]);
  });

  it("closes a window whose nets leave out the fee account", async () => {
    const closed = await mesh.operator.closeSettlementWindow({ requestId: "nofee-close" });
    expect(closed.netPositions.map(netText).sort()).toEqual(["USD bank-a 2", "USD bank-b -2"]);
    expect(closed.instructions.map(netText).sort()).toEqual(["USD bank-a 2", "USD bank-b -2"]);
  });
});

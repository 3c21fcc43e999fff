// Clearing issue acceptance: 3 participants exchange hundreds of transfers over signed gRPC,
// one hits its cap, the window closes, the bank-adapter executes the instructions, and every
// settlement balance ends equal to its start minus its net, to the minor unit — in clearing's
// books and in the settlement bank's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BankAdapterService, ClearingService, SettlementWindowState, TransferState } from "@clearmesh/contracts";
import { errorReason } from "@clearmesh/runtime";
import { clientFor, startTestMesh, type TestMesh } from "../support/mesh.js";

const PARTICIPANTS = ["bank-a", "bank-b", "wallet-a"] as const;
const START: Record<string, bigint> = { "bank-a": 50_000n, "bank-b": 400_000n, "wallet-a": 300_000n };

describe("settlement across the mesh", () => {
  let mesh: TestMesh;

  beforeAll(async () => {
    mesh = await startTestMesh({ environment: { FEE_SCHEDULE: '[{"currency":"USD","payer_kind":"*","fixed_minor":"1","basis_points":"50"}]' } });
    for (const participantId of PARTICIPANTS) {
      await mesh.operator.depositLiquidity({ requestId: `start-${participantId}`, participantId, amount: { currency: "USD", amountMinor: START[participantId]! } });
      await mesh.operator.setNetDebitCap({ requestId: `cap-${participantId}`, participantId, cap: { currency: "USD", amountMinor: START[participantId]! } });
    }
  }, 60_000);
  afterAll(async () => mesh?.stop());

  it("settles hundreds of transfers to the minor unit, with one payer held at its cap", async () => {
    const clients = Object.fromEntries(PARTICIPANTS.map((participantId) => [participantId, clientFor(mesh, "clearing", ClearingService, mesh.keys.get(participantId)!)]));
    let seed = 7;
    const random = (limit: number) => { seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648; return seed % limit; };
    const refusedBy: Record<string, number> = {};
    let committed = 0;
    for (let round = 0; round < 30; round += 1) {
      // Ten concurrent transfers per round, among the three; bank-a pays the most and hits its cap.
      await Promise.all(Array.from({ length: 10 }, async (_, index) => {
        const payer = index < 5 ? "bank-a" : PARTICIPANTS[random(3)]!;
        const payee = PARTICIPANTS.filter((candidate) => candidate !== payer)[random(2)]!;
        const transferId = `st-${round}-${index}`;
        try {
          const transfer = await clients[payer]!.createTransfer({ transferId, payerId: payer, payeeId: payee, amount: { currency: "USD", amountMinor: BigInt(500 + random(3_000)) } });
          expect(transfer.state).toBe(TransferState.COMMITTED);
          committed += 1;
        } catch (error) {
          expect(errorReason(error)).toBe("LIQUIDITY_LIMIT_EXCEEDED");
          refusedBy[payer] = (refusedBy[payer] ?? 0) + 1;
        }
      }));
    }
    expect(committed).toBeGreaterThan(200);
    expect(refusedBy["bank-a"]).toBeGreaterThan(0);
    const capped = await mesh.operator.getPosition({ participantId: "bank-a", currency: "USD" });
    expect(capped.positionMinor + capped.reservedMinor).toBeLessThanOrEqual(capped.netDebitCapMinor);

    const before = Object.fromEntries(await Promise.all([...PARTICIPANTS, "operator"].map(async (participantId) =>
      [participantId, await mesh.operator.getPosition({ participantId, currency: "USD" })] as const)));
    const closed = await mesh.operator.closeSettlementWindow({ requestId: "close-settlement-test" });
    expect(closed.state).toBe(SettlementWindowState.SETTLING);
    const total = closed.netPositions.reduce((sum, net) => sum + net.netMinor, 0n);
    expect(total).toBe(0n);

    let window = closed;
    const deadline = Date.now() + 15_000;
    while (window.state !== SettlementWindowState.SETTLED && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      window = await mesh.operator.getSettlementWindow({ windowId: closed.windowId });
    }
    expect(window.state).toBe(SettlementWindowState.SETTLED);

    const bank = clientFor(mesh, "bank-adapter", BankAdapterService, mesh.keys.get("operator")!);
    for (const participantId of [...PARTICIPANTS, "operator"]) {
      const net = closed.netPositions.find((entry) => entry.participantId === participantId && entry.currency === "USD")?.netMinor ?? 0n;
      const after = await mesh.operator.getPosition({ participantId, currency: "USD" });
      const start = START[participantId] ?? 0n;
      expect([participantId, after.settlementBalanceMinor]).toEqual([participantId, start - net]);
      expect([participantId, after.positionMinor]).toEqual([participantId, before[participantId]!.positionMinor - net]);
      const books = await bank.getSettlementAccount({ participantId, currency: "USD" });
      expect([participantId, books.balanceMinor]).toEqual([participantId, start - net]);
    }
    console.info(`settlement: ${committed} committed, refused ${JSON.stringify(refusedBy)}, nets ${closed.netPositions.map((net) => `${net.participantId}=${net.netMinor}`).join(" ")}`);
  }, 90_000);
});

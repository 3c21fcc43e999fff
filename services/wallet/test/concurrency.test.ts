// Two wallet processes on one PostgreSQL: 100 concurrent spends of one balance, spread over both
// processes and mixed between a payee of the same provider and one at the other provider, never
// overdraw it; exactly as many succeed as the balance covers, no hold is left, and the books of
// both providers balance and agree with clearing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WalletService } from "@clearmesh/contracts";
import { createSignedClient, errorReason } from "@clearmesh/runtime";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { available, bearer, fundUser, registerAndLogin, startWalletMesh, waitFor, type WalletMesh } from "./support.js";

const SPENDS = 100;
const AMOUNT = 150n;
const FUNDS = 10_000n;

describe("concurrent spends over two wallet processes on one PostgreSQL", () => {
  let database: TestDatabase;
  let walletMesh: WalletMesh;

  beforeAll(async () => {
    database = await createTestDatabase();
    walletMesh = await startWalletMesh({ wallets: 2, walletEnvironment: { STORE_URL: database.url } });
  }, 60_000);
  afterAll(async () => {
    await walletMesh?.stop();
    await database?.drop();
  });

  it("never overdraws one balance", async () => {
    const [first, second] = walletMesh.clients as [typeof walletMesh.clients[0], typeof walletMesh.clients[0]];
    const payer = await registerAndLogin(first, "wallet-a", "payer");
    const localPayee = await registerAndLogin(second, "wallet-a", "local");
    const remotePayee = await registerAndLogin(second, "wallet-b", "remote");
    await waitFor(async () => {
      try {
        return (await walletMesh.bank.lookupParty({ alias: remotePayee.email })).participantId === "wallet-b";
      } catch {
        return false;
      }
    }, "remote alias at clearing");
    await fundUser(walletMesh, first, payer, FUNDS, "fund-concurrent");
    const positionBefore = (await walletMesh.mesh.operator.getPosition({ participantId: "wallet-a", currency: "USD" })).positionMinor;

    const outcomes = await Promise.all(Array.from({ length: SPENDS }, async (_, index) => {
      const client = index % 2 === 0 ? first : second;
      const payee = index % 4 < 2 ? localPayee.email : remotePayee.email;
      try {
        await client.sendMoney({ requestId: `spend-${index}`, payee, amount: { currency: "USD", amountMinor: AMOUNT } }, bearer(payer.token));
        return { ok: true, remote: payee === remotePayee.email };
      } catch (error) {
        return { ok: false, reason: errorReason(error), remote: payee === remotePayee.email };
      }
    }));
    const succeeded = outcomes.filter((outcome) => outcome.ok);
    const refused = outcomes.filter((outcome) => !outcome.ok);
    expect(new Set(refused.map((outcome) => outcome.reason))).toEqual(new Set(["INSUFFICIENT_FUNDS"]));
    expect(succeeded.length).toBe(Number(FUNDS / AMOUNT));
    const balances = await first.getBalances({}, bearer(payer.token));
    expect(balances.wallets[0]).toMatchObject({ balance: { amountMinor: FUNDS % AMOUNT }, held: { amountMinor: 0n }, available: { amountMinor: FUNDS % AMOUNT } });

    const remoteSpent = BigInt(succeeded.filter((outcome) => outcome.remote).length) * AMOUNT;
    const localSpent = BigInt(succeeded.filter((outcome) => !outcome.remote).length) * AMOUNT;
    expect(await available(second, localPayee)).toBe(localSpent);
    const fee = 10n + (AMOUNT + 50n) / 100n;
    const remoteReceived = BigInt(succeeded.filter((outcome) => outcome.remote).length) * (AMOUNT - fee);
    await waitFor(async () => (await available(second, remotePayee)) === remoteReceived, "remote credits");
    expect((await walletMesh.mesh.operator.getPosition({ participantId: "wallet-a", currency: "USD" })).positionMinor).toBe(positionBefore + remoteSpent);

    const books = createSignedClient(WalletService, { address: `127.0.0.1:${walletMesh.wallets[1]!.grpcPort}`, signer: walletMesh.mesh.keys.get("operator")! });
    try {
      for (const providerId of ["wallet-a", "wallet-b"]) {
        const report = await books.getProviderBooks({ providerId, currency: "USD" });
        const clearing = await walletMesh.mesh.operator.getPosition({ participantId: providerId, currency: "USD" });
        expect([providerId, report.balanced, report.held?.amountMinor, report.clearingPositionMinor]).toEqual([providerId, true, 0n, clearing.positionMinor]);
      }
    } finally {
      books.close();
    }
  }, 60_000);
});

// The money invariants under concurrency, on PostgreSQL with a pool of connections (as several
// bank-adapter instances would share it): holds, pulls and the daily limit are conditional
// updates, so racing calls can never overdraw an account or a mandate, and the same id moves
// money once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema, NotificationRequestedSchema, PullState } from "@clearmesh/contracts";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { unsealText } from "@clearmesh/trust";
import { placeHold } from "../src/accounts/repository.js";
import { BankError } from "../src/errors.js";
import { startHarness, type Harness } from "./support/harness.js";

let database: TestDatabase;
let harness: Harness;
const USD = (amountMinor: bigint) => ({ currency: "USD", amountMinor });

beforeAll(async () => {
  database = await createTestDatabase();
  harness = await startHarness(database.url);
});

afterAll(async () => {
  await harness?.close();
  await database?.drop();
});

async function openFunded(requestId: string, balanceMinor: bigint): Promise<string> {
  const account = await harness.accounts.open({ requestId, bankId: "bank-a", holderName: "Carol", currency: "USD", holderEmail: "carol@example.com", holderPhone: "" } as never, harness.as("bank-a"));
  await harness.accounts.deposit({ requestId: `dep-${requestId}`, accountId: account.accountId, amount: USD(balanceMinor) } as never, harness.as("bank-a"));
  return account.accountId;
}

async function state(accountId: string) {
  const account = await harness.accounts.get({ accountId } as never, harness.as("operator"));
  return { balance: account.balance!.amountMinor, held: account.held!.amountMinor };
}

async function mandateToken(requestId: string, accountId: string, perTransfer: bigint, daily: bigint): Promise<string> {
  const mandate = await harness.mandates.request({ requestId, accountId, payeeId: "wallet-a", perTransferLimit: USD(perTransfer), dailyLimit: USD(daily) } as never, harness.as("wallet-a"));
  const [row] = await harness.store.query<{ data: Uint8Array }>("SELECT data FROM outbox ORDER BY seq DESC LIMIT 1");
  const notification = fromBinary(NotificationRequestedSchema, fromBinary(EnvelopeSchema, new Uint8Array(row!.data)).payload);
  const code = unsealText(harness.notifyDataKeys, notification.sealedParameters.code!);
  return (await harness.mandates.confirm({ mandateId: mandate.mandateId, code } as never, harness.as("wallet-a"))).mandateToken;
}

const outcome = (work: Promise<{ state: PullState }>) => work.then((pull) => PullState[pull.state], (error: unknown) => (error instanceof BankError ? error.reason : String(error)));

describe("conditional updates on PostgreSQL", () => {
  it("lets exactly as many racing holds succeed as the free balance covers", async () => {
    const accountId = await openFunded("open-holds", 1_000n);
    const results = await Promise.all(Array.from({ length: 40 }, () => harness.store.transaction((tx) => placeHold(tx, accountId, 100n))));
    expect(results.filter(Boolean)).toHaveLength(10);
    expect(await state(accountId)).toEqual({ balance: 1_000n, held: 1_000n });
  });

  it("never overdraws with racing pulls, and each pull id moves money once", async () => {
    const accountId = await openFunded("open-pulls", 1_000n);
    const token = await mandateToken("mdt-race", accountId, 1_000n, 100_000n);
    const pull = (pullId: string) => harness.pulls.pull({ pullId, mandateToken: token, amount: USD(200n), payeeReference: "" } as never, harness.as("wallet-a"));
    const results = await Promise.all([...Array.from({ length: 10 }, (_, index) => outcome(pull(`race-${index}`))), ...Array.from({ length: 4 }, () => outcome(pull("race-0")))]);
    const completed = results.slice(0, 10).filter((result) => result === "COMPLETED").length;
    expect(completed).toBe(5);
    expect(results.slice(0, 10).filter((result) => result === "INSUFFICIENT_FUNDS")).toHaveLength(5);
    expect(await state(accountId)).toEqual({ balance: 0n, held: 0n });
    expect(harness.clearing.transfers.size).toBe(5);
    const [debits] = await harness.store.query<{ count: bigint }>("SELECT COUNT(*) AS count FROM postings WHERE account_id = $1 AND direction = 'DEBIT'", [accountId]);
    expect(Number(debits!.count)).toBe(5);
  });

  it("keeps racing pulls within the daily limit", async () => {
    const accountId = await openFunded("open-daily", 10_000n);
    const token = await mandateToken("mdt-daily", accountId, 1_000n, 500n);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) => outcome(harness.pulls.pull({ pullId: `daily-${index}`, mandateToken: token, amount: USD(100n), payeeReference: "" } as never, harness.as("wallet-a")))));
    expect(results.filter((result) => result === "COMPLETED")).toHaveLength(5);
    expect(results.filter((result) => result === "MANDATE_LIMIT_EXCEEDED")).toHaveLength(5);
    expect(await state(accountId)).toEqual({ balance: 9_500n, held: 0n });
  });
});

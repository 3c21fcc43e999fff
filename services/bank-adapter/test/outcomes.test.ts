// What happens when clearing does not answer, or answers late, and when codes lapse: the bank's
// services on a store with a fake clearing and a clock the test moves. Whatever the order,
// every hold ends as exactly one debit or one release, and the balances are exact.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AuthorizationState, EnvelopeSchema, MandateState, NotificationRequestedSchema, PullState } from "@clearmesh/contracts";
import { createLogger } from "@clearmesh/runtime";
import { unsealText } from "@clearmesh/trust";
import { BankError } from "../src/errors.js";
import { SWEEP_STALE_MS, sweepOnce } from "../src/sweeper.js";
import { HARNESS_CODE_ATTEMPTS, HARNESS_CODE_TTL_MS, startHarness, type Harness } from "./support/harness.js";

let harness: Harness;
const silent = createLogger({ service: "bank-adapter-test", level: "silent" });
const USD = (amountMinor: bigint) => ({ currency: "USD", amountMinor });

beforeEach(async () => {
  harness = await startHarness();
});
afterEach(async () => {
  await harness.close();
});

async function refusal(work: Promise<unknown>): Promise<{ reason: string; metadata: Record<string, string> }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof BankError) return { reason: error.reason, metadata: error.metadata };
    throw error;
  }
  throw new Error("expected a refusal");
}

async function fundedAccount(balanceMinor: bigint, requestId = "open-1") {
  const account = await harness.accounts.open({ requestId, bankId: "bank-a", holderName: "Alice", currency: "USD", holderEmail: "alice@example.com", holderPhone: "+15551230001" } as never, harness.as("bank-a"));
  await harness.accounts.deposit({ requestId: `dep-${requestId}`, accountId: account.accountId, amount: USD(balanceMinor) } as never, harness.as("bank-a"));
  return account.accountId;
}

async function balances(accountId: string) {
  const account = await harness.accounts.get({ accountId } as never, harness.as("operator"));
  return { balance: account.balance!.amountMinor, held: account.held!.amountMinor };
}

/** The one-time code of the last mandate request, read from the outbox as the notifier would. */
async function lastCode(): Promise<string> {
  const [row] = await harness.store.query<{ data: Uint8Array }>("SELECT data FROM outbox ORDER BY seq DESC LIMIT 1");
  const envelope = fromBinary(EnvelopeSchema, new Uint8Array(row!.data));
  const notification = fromBinary(NotificationRequestedSchema, envelope.payload);
  return unsealText(harness.notifyDataKeys, notification.sealedParameters.code!);
}

async function activeMandate(accountId: string): Promise<string> {
  const mandate = await harness.mandates.request({ requestId: "mdt-req-1", accountId, payeeId: "wallet-a", perTransferLimit: USD(50_000n), dailyLimit: USD(80_000n) } as never, harness.as("wallet-a"));
  const confirmed = await harness.mandates.confirm({ mandateId: mandate.mandateId, code: await lastCode() } as never, harness.as("wallet-a"));
  expect(confirmed.state).toBe(MandateState.ACTIVE);
  return confirmed.mandateToken;
}

describe("pulls without an answer from clearing", () => {
  it("keeps the hold, then the sweeper finds clearing never got it and pays it once", async () => {
    const accountId = await fundedAccount(100_000n);
    const token = await activeMandate(accountId);
    harness.clearing.mode = "silent";
    const pull = { pullId: "pull-1", mandateToken: token, amount: USD(30_000n), payeeReference: "user-1" };
    expect((await refusal(harness.pulls.pull(pull as never, harness.as("wallet-a")))).reason).toBe("CLEARING_UNAVAILABLE");
    expect(await balances(accountId)).toEqual({ balance: 100_000n, held: 30_000n });
    harness.clearing.mode = "answer";
    harness.clock.nowMs += SWEEP_STALE_MS + 1;
    expect(await sweepOnce({ store: harness.store, pulls: harness.pulls, authorizations: harness.authorizations, now: () => harness.clock.nowMs, logger: silent })).toBe(1);
    expect(harness.clearing.calls).toEqual(["create pull-1", "get pull-1", "create pull-1"]);
    expect(await balances(accountId)).toEqual({ balance: 70_000n, held: 0n });
    const again = await harness.pulls.pull(pull as never, harness.as("wallet-a"));
    expect(again.state).toBe(PullState.COMPLETED);
    expect(await balances(accountId)).toEqual({ balance: 70_000n, held: 0n });
  });

  it("books a transfer clearing made although its answer was lost, when the payee repeats the pull", async () => {
    const accountId = await fundedAccount(100_000n);
    const token = await activeMandate(accountId);
    harness.clearing.mode = "lost-answer";
    const pull = { pullId: "pull-2", mandateToken: token, amount: USD(40_000n), payeeReference: "user-1" };
    expect((await refusal(harness.pulls.pull(pull as never, harness.as("wallet-a")))).reason).toBe("CLEARING_UNAVAILABLE");
    expect(await balances(accountId)).toEqual({ balance: 100_000n, held: 40_000n });
    harness.clearing.mode = "answer";
    expect((await harness.pulls.pull(pull as never, harness.as("wallet-a"))).state).toBe(PullState.COMPLETED);
    expect(harness.clearing.calls.filter((call) => call === "create pull-2")).toHaveLength(1);
    expect(await balances(accountId)).toEqual({ balance: 60_000n, held: 0n });
  });

  it("releases the hold and the day's usage when clearing finally refuses", async () => {
    const accountId = await fundedAccount(100_000n);
    const token = await activeMandate(accountId);
    harness.clearing.mode = "silent";
    await refusal(harness.pulls.pull({ pullId: "pull-3", mandateToken: token, amount: USD(50_000n), payeeReference: "" } as never, harness.as("wallet-a")));
    harness.clearing.mode = "refuse";
    harness.clock.nowMs += SWEEP_STALE_MS + 1;
    await sweepOnce({ store: harness.store, pulls: harness.pulls, authorizations: harness.authorizations, now: () => harness.clock.nowMs, logger: silent });
    expect(await balances(accountId)).toEqual({ balance: 100_000n, held: 0n });
    const failed = await harness.pulls.pull({ pullId: "pull-3", mandateToken: token, amount: USD(50_000n), payeeReference: "" } as never, harness.as("wallet-a"));
    expect(failed.state).toBe(PullState.FAILED);
    expect(failed.failureReason).toBe("LIQUIDITY_LIMIT_EXCEEDED");
    // The refused pull gave its 50 000 of the 80 000 daily limit back.
    harness.clearing.mode = "answer";
    expect((await harness.pulls.pull({ pullId: "pull-4", mandateToken: token, amount: USD(50_000n), payeeReference: "" } as never, harness.as("wallet-a"))).state).toBe(PullState.COMPLETED);
    expect(await balances(accountId)).toEqual({ balance: 50_000n, held: 0n });
  });
});

describe("authorizations without an answer from clearing", () => {
  async function card(accountId: string) {
    return (await harness.vault.tokenize({ requestId: "card-1", accountId, pan: "4242424242424242", expiryMonth: 12, expiryYear: 2099, cardholderName: "ALICE" } as never, harness.as("bank-a"))).cardToken;
  }

  it("keeps the hold while clearing is silent and authorizes on the repeat", async () => {
    const accountId = await fundedAccount(100_000n);
    const cardToken = await card(accountId);
    harness.clearing.mode = "silent";
    const request = { authorizationId: "auth-1", cardToken, amount: USD(25_000n), acquirerId: "acquirer-a", merchantReference: "order-1" };
    expect((await refusal(harness.authorizations.authorize(request as never, harness.as("acquirer-a")))).reason).toBe("CLEARING_UNAVAILABLE");
    expect(await balances(accountId)).toEqual({ balance: 100_000n, held: 25_000n });
    harness.clearing.mode = "answer";
    const authorized = await harness.authorizations.authorize(request as never, harness.as("acquirer-a"));
    expect(authorized.state).toBe(AuthorizationState.AUTHORIZED);
    expect(harness.clearing.calls).toEqual(["prepare auth-1", "get auth-1", "prepare auth-1"]);
    harness.clearing.commit("auth-1", 10_000n);
    const captured = await harness.authorizations.capture({ authorizationId: "auth-1" } as never, harness.as("acquirer-a"));
    expect(captured.captured?.amountMinor).toBe(10_000n);
    expect(await balances(accountId)).toEqual({ balance: 90_000n, held: 0n });
  });

  it("refuses a capture whose amount differs from what clearing committed, booking nothing", async () => {
    const accountId = await fundedAccount(100_000n);
    const cardToken = await card(accountId);
    await harness.authorizations.authorize({ authorizationId: "auth-m", cardToken, amount: USD(25_000n), acquirerId: "acquirer-a", merchantReference: "" } as never, harness.as("acquirer-a"));
    harness.clearing.commit("auth-m", 10_000n);
    const mismatch = await refusal(harness.authorizations.capture({ authorizationId: "auth-m", amount: USD(9_000n) } as never, harness.as("acquirer-a")));
    expect(mismatch).toMatchObject({ reason: "CAPTURE_AMOUNT_MISMATCH", metadata: { field: "amount.amount_minor" } });
    expect(await balances(accountId)).toEqual({ balance: 100_000n, held: 25_000n });
    const [row] = await harness.store.query<{ state: string }>("SELECT state FROM authorizations WHERE authorization_id = $1", ["auth-m"]);
    expect(row!.state).toBe("AUTHORIZED");
    const captured = await harness.authorizations.capture({ authorizationId: "auth-m", amount: USD(10_000n) } as never, harness.as("acquirer-a"));
    expect(captured.captured?.amountMinor).toBe(10_000n);
    expect(await balances(accountId)).toEqual({ balance: 90_000n, held: 0n });
  });

  it("expires a held authorization whose transfer clearing never saw once its expiry has passed", async () => {
    const accountId = await fundedAccount(100_000n);
    const cardToken = await card(accountId);
    harness.clearing.mode = "silent";
    const expiresAt = timestampFromMs(harness.clock.nowMs + 60_000);
    await refusal(harness.authorizations.authorize({ authorizationId: "auth-2", cardToken, amount: USD(5_000n), acquirerId: "acquirer-a", merchantReference: "", expiresAt } as never, harness.as("acquirer-a")));
    harness.clearing.mode = "answer";
    harness.clock.nowMs += 61_000;
    await sweepOnce({ store: harness.store, pulls: harness.pulls, authorizations: harness.authorizations, now: () => harness.clock.nowMs, logger: silent });
    expect(harness.clearing.calls).toEqual(["prepare auth-2", "get auth-2"]);
    expect(await balances(accountId)).toEqual({ balance: 100_000n, held: 0n });
  });
});

describe("one-time codes", () => {
  it("refuses a code after its TTL (MANDATE_CODE_EXPIRED) and the mandate shows EXPIRED", async () => {
    const accountId = await fundedAccount(1_000n);
    const mandate = await harness.mandates.request({ requestId: "mdt-ttl", accountId, payeeId: "wallet-a", perTransferLimit: USD(100n), dailyLimit: USD(100n) } as never, harness.as("wallet-a"));
    const code = await lastCode();
    harness.clock.nowMs += HARNESS_CODE_TTL_MS;
    expect((await refusal(harness.mandates.confirm({ mandateId: mandate.mandateId, code } as never, harness.as("wallet-a")))).reason).toBe("MANDATE_CODE_EXPIRED");
    const revoked = await harness.mandates.revoke({ mandateId: mandate.mandateId } as never, harness.as("wallet-a"));
    expect(revoked.state).toBe(MandateState.EXPIRED);
  });

  it("expires the mandate on the last allowed wrong code; the right code then no longer works", async () => {
    const accountId = await fundedAccount(1_000n);
    const mandate = await harness.mandates.request({ requestId: "mdt-wrong", accountId, payeeId: "wallet-a", perTransferLimit: USD(100n), dailyLimit: USD(100n) } as never, harness.as("wallet-a"));
    const code = await lastCode();
    const wrong = code === "000000" ? "000001" : "000000";
    const left: string[] = [];
    for (let attempt = 0; attempt < HARNESS_CODE_ATTEMPTS; attempt += 1) {
      const refused = await refusal(harness.mandates.confirm({ mandateId: mandate.mandateId, code: wrong } as never, harness.as("wallet-a")));
      expect(refused.reason).toBe("MANDATE_CODE_INVALID");
      left.push(refused.metadata.attempts_left!);
    }
    expect(left).toEqual(["2", "1", "0"]);
    expect((await refusal(harness.mandates.confirm({ mandateId: mandate.mandateId, code } as never, harness.as("wallet-a")))).reason).toBe("MANDATE_CODE_EXPIRED");
  });
});

describe("secrets", () => {
  it("never puts a PAN, an account number, a code, a token or contact details in a log line or an error", async () => {
    await harness.close();
    const logLines: string[] = [];
    harness = await startHarness("sqlite::memory:", { logLines });
    const errors: string[] = [];
    const keep = (work: Promise<unknown>) => work.catch((error: Error) => { errors.push(`${error.message} ${JSON.stringify((error as BankError).metadata ?? {})}`); });
    const accountId = await fundedAccount(100_000n);
    const mandate = await harness.mandates.request({ requestId: "mdt-s", accountId, payeeId: "wallet-a", perTransferLimit: USD(50_000n), dailyLimit: USD(80_000n) } as never, harness.as("wallet-a"));
    const code = await lastCode();
    await keep(harness.mandates.confirm({ mandateId: mandate.mandateId, code: code === "999999" ? "999998" : "999999" } as never, harness.as("wallet-a")));
    const token = (await harness.mandates.confirm({ mandateId: mandate.mandateId, code } as never, harness.as("wallet-a"))).mandateToken;
    await harness.pulls.pull({ pullId: "pull-s", mandateToken: token, amount: USD(1_000n), payeeReference: "" } as never, harness.as("wallet-a"));
    await keep(harness.vault.tokenize({ requestId: "card-bad", accountId, pan: "4242424242424241", expiryMonth: 1, expiryYear: 2099, cardholderName: "" } as never, harness.as("bank-a")));
    await keep(harness.vault.tokenize({ requestId: "card-old", accountId, pan: "4242424242424242", expiryMonth: 1, expiryYear: 2020, cardholderName: "" } as never, harness.as("bank-a")));
    const card = await harness.vault.tokenize({ requestId: "card-s", accountId, pan: "4242424242424242", expiryMonth: 1, expiryYear: 2099, cardholderName: "ALICE" } as never, harness.as("bank-a"));
    await keep(harness.vault.tokenize({ requestId: "card-s", accountId, pan: "4000056655665556", expiryMonth: 1, expiryYear: 2099, cardholderName: "ALICE" } as never, harness.as("bank-a")));
    await harness.authorizations.authorize({ authorizationId: "auth-s", cardToken: card.cardToken, amount: USD(2_000n), acquirerId: "acquirer-a", merchantReference: "" } as never, harness.as("acquirer-a"));
    harness.clearing.commit("auth-s");
    await harness.authorizations.capture({ authorizationId: "auth-s" } as never, harness.as("acquirer-a"));
    const [row] = await harness.store.query<{ account_number_sealed: string }>("SELECT account_number_sealed FROM accounts WHERE account_id = $1", [accountId]);
    const accountNumber = unsealText(harness.dataKeys, row!.account_number_sealed);
    const text = [...logLines, ...errors].join("\n");
    expect(logLines.length).toBeGreaterThan(5);
    expect(errors).toHaveLength(4);
    for (const secret of [accountNumber, "4242424242424242", "4242424242424241", "4000056655665556", code, token, "alice@example.com", "+15551230001", "Alice"]) {
      expect(text, "a secret leaked").not.toContain(secret);
    }
  });
});

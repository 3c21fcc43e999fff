// Quotes, fees and FX over signed gRPC, on SQLite and on PostgreSQL: SetFxRate (operator only,
// idempotent on request_id), CreateQuote with exact numbers on the sending and the receiving
// side, idempotency, every refusal, and a cross-currency transfer citing a quote that moves
// positions in both currencies through the FX provider, to the minor unit.
//
// Fee schedule of these tests: USD 25 minor units + 150 basis points (half up); others free.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AmountType, ClearingService, CreateQuoteRequestSchema, ParticipantKind, ParticipantStatus, TransferState, type CreateQuoteRequest } from "@clearmesh/contracts";
import { Code, errorInfo, errorReason } from "@clearmesh/runtime";
import { createTestDatabase, openStore, type TestDatabase } from "@clearmesh/store";
import { createSigningKey, generateSeed, type SigningKey } from "@clearmesh/trust";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";

const FEE_SCHEDULE = JSON.stringify([{ currency: "USD", payer_kind: "*", fixed_minor: "25", basis_points: "150" }]);
const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

type Client = ReturnType<typeof clientFor<typeof ClearingService>>;
/** A CreateQuoteRequest as plain fields (the init form, not a message). */
type QuoteInit = Exclude<MessageInitShape<typeof CreateQuoteRequestSchema>, CreateQuoteRequest>;

async function reasonOf(call: Promise<unknown>): Promise<{ code?: number; reason?: string; field?: string }> {
  try {
    await call;
    return {};
  } catch (error) {
    return { code: (error as { code?: number }).code, reason: errorReason(error), field: errorInfo(error)?.metadata.field };
  }
}

async function registerParticipant(mesh: TestMesh, participantId: string, kind: ParticipantKind, currencies: string[]): Promise<SigningKey> {
  const key = createSigningKey(participantId, `${participantId}-1`, generateSeed());
  await mesh.operator.registerParticipant({ participantId, name: participantId, kind, currencies, keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
  return key;
}

async function fund(mesh: TestMesh, participantId: string, currency: string, amountMinor: bigint): Promise<void> {
  await mesh.operator.depositLiquidity({ requestId: `fund-${participantId}-${currency}`, participantId, amount: { currency, amountMinor } });
  await mesh.operator.setNetDebitCap({ requestId: `cap-${participantId}-${currency}`, participantId, cap: { currency, amountMinor } });
}

describe.each(engines)("quotes and FX on $name", ({ database }) => {
  let mesh: TestMesh;
  let testDatabase: TestDatabase | undefined;
  let bankA: Client;
  let bankB: Client;
  let counter = 0;
  const nextId = (prefix: string) => `${prefix}-${Date.now()}-${(counter += 1)}`;
  const quote = (change: QuoteInit = {}) => bankA.createQuote({
    quoteId: nextId("q"), payerId: "bank-a", payeeId: "bank-b", amountType: AmountType.SEND, amount: { currency: "USD", amountMinor: 10_000n }, ...change,
  });

  beforeAll(async () => {
    testDatabase = await database();
    mesh = await startTestMesh({ clearingOnly: true, environment: { FEE_SCHEDULE, ...(testDatabase ? { STORE_URL: testDatabase.url } : {}) } });
    bankA = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-a")!);
    bankB = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-b")!);
    await registerParticipant(mesh, "fx-a", ParticipantKind.FX_PROVIDER, ["USD", "EUR", "JPY"]);
    await registerParticipant(mesh, "fx-b", ParticipantKind.FX_PROVIDER, ["USD", "EUR"]);
    await registerParticipant(mesh, "bank-j", ParticipantKind.BANK, ["JPY", "USD"]);
    await mesh.operator.setFxRate({ requestId: "rate-fx-a-usd-eur", fxProviderId: "fx-a", sourceCurrency: "USD", targetCurrency: "EUR", rate: "0.9231" });
    await mesh.operator.setFxRate({ requestId: "rate-fx-a-usd-jpy", fxProviderId: "fx-a", sourceCurrency: "USD", targetCurrency: "JPY", rate: "151.37" });
    await mesh.operator.setFxRate({ requestId: "rate-fx-b-usd-eur", fxProviderId: "fx-b", sourceCurrency: "USD", targetCurrency: "EUR", rate: "0.95" });
    await fund(mesh, "bank-a", "USD", 10_000_000n);
    await fund(mesh, "fx-a", "EUR", 10_000_000n);
  }, 60_000);
  afterAll(async () => {
    await mesh?.stop();
    await testDatabase?.drop();
  });

  describe("SetFxRate", () => {
    const request = { fxProviderId: "fx-b", sourceCurrency: "EUR", targetCurrency: "USD", rate: "1.0825" };

    it("stores a rate once per request id, with its answer, and names the field of a conflicting repeat", async () => {
      const requestId = nextId("rate");
      const first = await mesh.operator.setFxRate({ requestId, ...request });
      expect(first).toMatchObject({ fxProviderId: "fx-b", sourceCurrency: "EUR", targetCurrency: "USD", rate: "1.0825" });
      // The same rate written with a trailing zero is the same request.
      const again = await mesh.operator.setFxRate({ requestId, ...request, rate: "1.08250" });
      expect(again.updatedAt).toEqual(first.updatedAt);
      expect(await reasonOf(mesh.operator.setFxRate({ requestId, ...request, rate: "1.09" })))
        .toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "rate" });
      expect(await reasonOf(mesh.operator.setFxRate({ requestId, ...request, targetCurrency: "JPY" })))
        .toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "target_currency" });
      const store = await openStore({ url: mesh.environment.STORE_URL ?? `sqlite:${mesh.dataDir}/clearing.db` });
      try {
        const requests = await store.query<{ count: bigint }>("SELECT COUNT(*) AS count FROM requests WHERE method = 'SetFxRate' AND request_id = $1", [requestId]);
        const rates = await store.query<{ rate: string }>("SELECT rate FROM fx_rates WHERE fx_provider_id = 'fx-b' AND source_currency = 'EUR' AND target_currency = 'USD'");
        expect(requests[0]!.count).toBe(1n);
        expect(rates.map((row) => row.rate)).toEqual(["1.0825"]);
      } finally {
        await store.close();
      }
    });

    it("answers racing repeats of one request id with one answer", async () => {
      const requestId = nextId("rate");
      const answers = await Promise.all(Array.from({ length: 10 }, () => mesh.operator.setFxRate({ requestId, ...request, rate: "1.0826" })));
      for (const answer of answers) expect(answer).toEqual(answers[0]);
    });

    it("is for the operator only", async () => {
      expect(await reasonOf(bankA.setFxRate({ requestId: nextId("rate"), ...request })))
        .toEqual({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", field: undefined });
    });

    it.each([
      ["a malformed request id", { requestId: "bad id" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "request_id" }],
      ["an exponent in the rate", { rate: "1e3" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "rate" }],
      ["a zero rate", { rate: "0.000" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "rate" }],
      ["a negative rate", { rate: "-1.2" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "rate" }],
      ["13 decimals", { rate: "1.0000000000001" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "rate" }],
      ["one currency twice", { targetCurrency: "EUR" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "target_currency" }],
      ["a lower-case currency", { sourceCurrency: "eur" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "source_currency" }],
      ["an unknown provider", { fxProviderId: "fx-nobody" }, { code: Code.NotFound, reason: "UNKNOWN_PARTICIPANT", field: "fx_provider_id" }],
      ["a provider that is not an FX provider", { fxProviderId: "bank-b" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "fx_provider_id" }],
      ["a currency the provider has not enabled", { targetCurrency: "JPY" }, { code: Code.FailedPrecondition, reason: "CURRENCY_NOT_ENABLED", field: "target_currency" }],
    ])("refuses %s", async (_name, change, expected) => {
      expect(await reasonOf(mesh.operator.setFxRate({ requestId: nextId("rate"), ...request, ...change }))).toEqual(expected);
    });

    it("keeps a refused request id refused", async () => {
      const requestId = nextId("rate");
      const refused = { requestId, ...request, targetCurrency: "JPY" };
      expect((await reasonOf(mesh.operator.setFxRate(refused))).reason).toBe("CURRENCY_NOT_ENABLED");
      expect((await reasonOf(mesh.operator.setFxRate(refused))).reason).toBe("CURRENCY_NOT_ENABLED");
    });

    it("prices quotes made after a new rate at that rate", async () => {
      await mesh.operator.setFxRate({ requestId: nextId("rate"), fxProviderId: "fx-b", sourceCurrency: "USD", targetCurrency: "EUR", rate: "0.97" });
      try {
        // 10 000 − fee 175 = 9 825 USD cents × 0.97 = 9 530.25 → 9 530 EUR cents
        expect((await quote({ payeeCurrency: "EUR", fxProviderId: "fx-b" })).receiveAmount?.amountMinor).toBe(9_530n);
      } finally {
        await mesh.operator.setFxRate({ requestId: nextId("rate"), fxProviderId: "fx-b", sourceCurrency: "USD", targetCurrency: "EUR", rate: "0.95" });
      }
    });
  });

  describe("CreateQuote", () => {
    it("quotes a same-currency send amount: fee = 25 + 1.5 % half up, receive = send − fee", async () => {
      const made = await quote();
      expect(made.sendAmount).toMatchObject({ currency: "USD", amountMinor: 10_000n });
      expect(made.fee).toMatchObject({ currency: "USD", amountMinor: 175n }); // 25 + 150
      expect(made.receiveAmount).toMatchObject({ currency: "USD", amountMinor: 9_825n });
      expect(made.rate).toBe("");
      expect(made.fxProviderId).toBe("");
      const ttl = Number(made.expiresAt!.seconds - made.createdAt!.seconds) * 1000 + (made.expiresAt!.nanos - made.createdAt!.nanos) / 1e6;
      expect(ttl).toBe(60_000);
    });

    it("quotes a cross-currency send amount through the first provider by id with a rate", async () => {
      const made = await quote({ payeeCurrency: "EUR" });
      expect(made.fxProviderId).toBe("fx-a");
      expect(made.rate).toBe("0.9231");
      expect(made.fee?.amountMinor).toBe(175n);
      // (10 000 − 175) × 0.9231 = 9 069.4575 → 9 069
      expect(made.receiveAmount).toMatchObject({ currency: "EUR", amountMinor: 9_069n });
    });

    it("quotes through the provider named", async () => {
      const made = await quote({ payeeCurrency: "EUR", fxProviderId: "fx-b" });
      expect(made).toMatchObject({ fxProviderId: "fx-b", rate: "0.95" });
      expect(made.receiveAmount?.amountMinor).toBe(9_334n); // 9 825 × 0.95 = 9 333.75 → 9 334
    });

    it("quotes across minor-unit digits (USD cents into yen)", async () => {
      const made = await quote({ payeeId: "bank-j", payeeCurrency: "JPY", amount: { currency: "USD", amountMinor: 1_050n } });
      // fee 25 + 15.75 → 16 = 41; (1 050 − 41) cents = 10.09 USD × 151.37 = 1 527.3233 yen → 1 527
      expect(made.fee?.amountMinor).toBe(41n);
      expect(made.receiveAmount).toMatchObject({ currency: "JPY", amountMinor: 1_527n });
    });

    it("quotes a receive amount: the smallest send whose receive is at least the amount", async () => {
      const same = await quote({ amountType: AmountType.RECEIVE, amount: { currency: "USD", amountMinor: 9_825n } });
      // 10 000 → fee 175 → 9 825; 9 999 → fee 25 + 149.985 → 175 → 9 824
      expect(same.sendAmount?.amountMinor).toBe(10_000n);
      expect(same.receiveAmount?.amountMinor).toBe(9_825n);

      const euros = await quote({ amountType: AmountType.RECEIVE, sendCurrency: "USD", amount: { currency: "EUR", amountMinor: 10_000n } });
      // 11 023 → fee 25 + 165.345 → 190 → 10 833 × 0.9231 = 9 999.9423 → 10 000;
      // 11 022 → fee 190 → 10 832 × 0.9231 = 9 999.0192 → 9 999
      expect(euros.sendAmount).toMatchObject({ currency: "USD", amountMinor: 11_023n });
      expect(euros.fee?.amountMinor).toBe(190n);
      expect(euros.receiveAmount).toMatchObject({ currency: "EUR", amountMinor: 10_000n });

      const yen = await quote({ amountType: AmountType.RECEIVE, payeeId: "bank-j", sendCurrency: "USD", amount: { currency: "JPY", amountMinor: 1_000n } });
      // 696 → fee 25 + 10.44 → 35 → 661 × 1.5137 = 1 000.5557 → 1 001 (the first amount reaching 1 000);
      // 695 → fee 35 → 660 × 1.5137 = 999.042 → 999
      expect(yen.sendAmount?.amountMinor).toBe(696n);
      expect(yen.receiveAmount).toMatchObject({ currency: "JPY", amountMinor: 1_001n });
    });

    it("answers a repeated quote id with the same quote and names the field of a different request", async () => {
      const quoteId = nextId("q");
      const request = { quoteId, payerId: "bank-a", payeeId: "bank-b", amountType: AmountType.SEND, amount: { currency: "USD", amountMinor: 5_000n }, payeeCurrency: "EUR" };
      const first = await bankA.createQuote(request);
      const answers = await Promise.all(Array.from({ length: 10 }, () => bankA.createQuote(request)));
      for (const answer of answers) expect(answer).toEqual(first);
      for (const [change, field] of [
        [{ amount: { currency: "USD", amountMinor: 5_001n } }, "amount.amount_minor"],
        [{ payeeId: "wallet-a" }, "payee_id"],
        [{ amountType: AmountType.RECEIVE, payeeCurrency: "", sendCurrency: "USD", amount: { currency: "EUR", amountMinor: 5_000n } }, "amount_type"],
        [{ payeeCurrency: "" }, "payee_currency"],
        [{ fxProviderId: "fx-b" }, "fx_provider_id"],
      ] as const) {
        expect(await reasonOf(bankA.createQuote({ ...request, ...change }))).toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field });
      }
      // payee_currency equal to the amount's is the same as empty.
      const usd = { ...request, quoteId: nextId("q"), payeeCurrency: "" };
      const usdFirst = await bankA.createQuote(usd);
      expect(await bankA.createQuote({ ...usd, payeeCurrency: "USD" })).toEqual(usdFirst);
    });

    it("skips a provider that may not convert now and refuses it when named", async () => {
      // fx-0 sorts before fx-a and has a better rate, but is suspended.
      await registerParticipant(mesh, "fx-0", ParticipantKind.FX_PROVIDER, ["USD", "EUR"]);
      await mesh.operator.setFxRate({ requestId: nextId("rate"), fxProviderId: "fx-0", sourceCurrency: "USD", targetCurrency: "EUR", rate: "1.5" });
      await mesh.operator.setParticipantStatus({ participantId: "fx-0", status: ParticipantStatus.SUSPENDED, reason: "test" });
      expect((await quote({ payeeCurrency: "EUR" })).fxProviderId).toBe("fx-a");
      expect(await reasonOf(quote({ payeeCurrency: "EUR", fxProviderId: "fx-0" })))
        .toEqual({ code: Code.FailedPrecondition, reason: "PARTICIPANT_INACTIVE", field: "fx_provider_id" });
    });

    const badQuotes: Array<[string, QuoteInit, { code: number; reason: string; field?: string }]> = [
      ["an unspecified amount type", { amountType: AmountType.UNSPECIFIED }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount_type" }],
      ["a malformed quote id", { quoteId: "bad id" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "quote_id" }],
      ["a missing amount", { amount: undefined }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount" }],
      ["a zero amount", { amount: { currency: "USD", amountMinor: 0n } }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount.amount_minor" }],
      ["a malformed payee currency", { payeeCurrency: "eur" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "payee_currency" }],
      ["a provider for one currency", { fxProviderId: "fx-a" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "fx_provider_id" }],
      ["payer = payee", { payeeId: "bank-a" }, { code: Code.InvalidArgument, reason: "SAME_PARTICIPANT", field: "payee_id" }],
      ["a payer other than the signer", { payerId: "bank-b", payeeId: "wallet-a" }, { code: Code.PermissionDenied, reason: "PERMISSION_DENIED", field: "payer_id" }],
      ["an unknown payee", { payeeId: "nobody-here" }, { code: Code.NotFound, reason: "UNKNOWN_PARTICIPANT", field: "payee_id" }],
      ["a currency the payer has not enabled", { amount: { currency: "GBP", amountMinor: 100n } }, { code: Code.FailedPrecondition, reason: "CURRENCY_NOT_ENABLED", field: "amount.currency" }],
      ["a payee currency the payee has not enabled", { payeeCurrency: "JPY" }, { code: Code.FailedPrecondition, reason: "CURRENCY_NOT_ENABLED", field: "payee_currency" }],
      ["a pair without a rate", { amount: { currency: "EUR", amountMinor: 100n }, payeeId: "bank-j", payeeCurrency: "JPY" }, { code: Code.FailedPrecondition, reason: "FX_RATE_NOT_FOUND", field: "payee_currency" }],
      ["a named provider without a rate for the pair", { amount: { currency: "EUR", amountMinor: 100n }, payeeCurrency: "USD", fxProviderId: "fx-a" }, { code: Code.FailedPrecondition, reason: "FX_RATE_NOT_FOUND", field: "fx_provider_id" }],
      ["a named provider without the currency", { payeeId: "bank-j", payeeCurrency: "JPY", fxProviderId: "fx-b" }, { code: Code.FailedPrecondition, reason: "CURRENCY_NOT_ENABLED", field: "fx_provider_id" }],
      ["a named participant that is not an FX provider", { payeeCurrency: "EUR", fxProviderId: "bank-b" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "fx_provider_id" }],
      ["an unknown named provider", { payeeCurrency: "EUR", fxProviderId: "fx-nobody" }, { code: Code.NotFound, reason: "UNKNOWN_PARTICIPANT", field: "fx_provider_id" }],
      ["an amount that only covers its fee", { amount: { currency: "USD", amountMinor: 25n } }, { code: Code.InvalidArgument, reason: "AMOUNT_TOO_SMALL", field: "amount.amount_minor" }],
      ["a receive quote with a payee currency other than the amount's", { amountType: AmountType.RECEIVE, payeeCurrency: "EUR" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "payee_currency" }],
      ["a send quote with a send currency other than the amount's", { sendCurrency: "EUR" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "send_currency" }],
      ["a receive amount beyond int64 sends", { amountType: AmountType.RECEIVE, sendCurrency: "USD", amount: { currency: "EUR", amountMinor: 2n ** 63n - 1n } }, { code: Code.InvalidArgument, reason: "AMOUNT_OVERFLOW", field: "amount.amount_minor" }],
    ];

    it.each(badQuotes)("refuses %s and stores nothing", async (_name, change, expected) => {
      const quoteId = typeof change.quoteId === "string" ? change.quoteId : nextId("q");
      expect(await reasonOf(quote({ quoteId, ...change }))).toEqual(expected);
      const store = await openStore({ url: mesh.environment.STORE_URL ?? `sqlite:${mesh.dataDir}/clearing.db` });
      try {
        expect(await store.query("SELECT quote_id FROM quotes WHERE quote_id = $1", [quoteId])).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it("refuses quotes for and to a suspended participant", async () => {
      const key = await registerParticipant(mesh, "bank-s", ParticipantKind.BANK, ["USD"]);
      await mesh.operator.setParticipantStatus({ participantId: "bank-s", status: ParticipantStatus.SUSPENDED, reason: "test" });
      expect(await reasonOf(quote({ payeeId: "bank-s" }))).toEqual({ code: Code.FailedPrecondition, reason: "PARTICIPANT_INACTIVE", field: "payee_id" });
      const bankS = clientFor(mesh, "clearing", ClearingService, key);
      try {
        expect(await reasonOf(bankS.createQuote({ quoteId: nextId("q"), payerId: "bank-s", payeeId: "bank-a", amountType: AmountType.SEND, amount: { currency: "USD", amountMinor: 500n } })))
          .toEqual({ code: Code.FailedPrecondition, reason: "PARTICIPANT_INACTIVE", field: "payer_id" });
      } finally {
        bankS.close();
      }
    });
  });

  describe("transfers citing a quote", () => {
    const position = async (participantId: string, currency: string) => (await mesh.operator.getPosition({ participantId, currency })).positionMinor;

    it("moves positions in both currencies through the FX provider, exactly, and they still sum to zero", async () => {
      const made = await quote({ payeeCurrency: "EUR", amount: { currency: "USD", amountMinor: 123_456n } });
      // fee 25 + 1 851.84 → 1 852 = 1 877; (123 456 − 1 877) × 0.9231 = 121 579 × 0.9231 = 112 229.5749 → 112 230
      expect(made.fee?.amountMinor).toBe(1_877n);
      expect(made.receiveAmount?.amountMinor).toBe(112_230n);
      const legs = [["bank-a", "USD"], ["fx-a", "USD"], ["operator", "USD"], ["fx-a", "EUR"], ["bank-b", "EUR"]] as const;
      const before = await Promise.all(legs.map(([participantId, currency]) => position(participantId, currency)));

      const transfer = await bankA.createTransfer({ transferId: nextId("t"), payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 123_456n }, quoteId: made.quoteId });
      expect(transfer.state).toBe(TransferState.COMMITTED);
      expect(transfer.fee).toMatchObject({ currency: "USD", amountMinor: 1_877n });
      expect(transfer.payeeAmount).toMatchObject({ currency: "EUR", amountMinor: 112_230n });
      expect(transfer).toMatchObject({ fxProviderId: "fx-a", rate: "0.9231", quoteId: made.quoteId });

      const after = await Promise.all(legs.map(([participantId, currency]) => position(participantId, currency)));
      expect(after.map((value, index) => value - before[index]!)).toEqual([123_456n, -(123_456n - 1_877n), -1_877n, 112_230n, -112_230n]);

      const store = await openStore({ url: mesh.environment.STORE_URL ?? `sqlite:${mesh.dataDir}/clearing.db` });
      try {
        const sums = await store.query<{ currency: string; total: bigint }>("SELECT currency, SUM(position_minor) AS total FROM accounts GROUP BY currency ORDER BY currency");
        expect(sums.map((row) => row.currency)).toEqual(["EUR", "USD"]);
        for (const row of sums) expect(BigInt(row.total as bigint)).toBe(0n);
      } finally {
        await store.close();
      }
    });

    it("needs the FX provider's cap in the payee currency", async () => {
      const made = await quote({ payeeId: "bank-j", payeeCurrency: "JPY", amount: { currency: "USD", amountMinor: 1_000n } });
      expect(await reasonOf(bankA.createTransfer({ transferId: nextId("t"), payerId: "bank-a", payeeId: "bank-j", amount: { currency: "USD", amountMinor: 1_000n }, quoteId: made.quoteId })))
        .toEqual({ code: Code.FailedPrecondition, reason: "LIQUIDITY_LIMIT_EXCEEDED", field: "fx_provider_id" });
    });

    it("refuses a transfer that differs from its quote, naming how", async () => {
      const made = await quote({ payeeCurrency: "EUR" });
      const transfer = { payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 10_000n }, quoteId: made.quoteId };
      for (const [change, field] of [
        [{ amount: { currency: "USD", amountMinor: 10_001n } }, "amount.amount_minor"],
        [{ amount: { currency: "EUR", amountMinor: 10_000n } }, "amount.currency"],
        [{ payeeId: "wallet-a" }, "payee_id"],
      ] as const) {
        expect(await reasonOf(bankA.createTransfer({ transferId: nextId("t"), ...transfer, ...change })))
          .toEqual({ code: Code.FailedPrecondition, reason: "QUOTE_MISMATCH", field });
      }
      expect(await reasonOf(bankB.createTransfer({ transferId: nextId("t"), ...transfer, payerId: "bank-b", payeeId: "wallet-a" })))
        .toEqual({ code: Code.FailedPrecondition, reason: "QUOTE_MISMATCH", field: "payer_id" });
      expect(await reasonOf(bankA.createTransfer({ transferId: nextId("t"), ...transfer, quoteId: "no-such-quote" })))
        .toEqual({ code: Code.NotFound, reason: "QUOTE_NOT_FOUND", field: "quote_id" });
      // The quote itself still works, once: a second transfer citing it is refused.
      const firstId = nextId("t");
      expect((await bankA.createTransfer({ transferId: firstId, ...transfer })).payeeAmount?.amountMinor).toBe(9_069n);
      expect((await bankA.createTransfer({ transferId: firstId, ...transfer })).transferId).toBe(firstId);
      expect(await reasonOf(bankA.createTransfer({ transferId: nextId("t"), ...transfer })))
        .toEqual({ code: Code.FailedPrecondition, reason: "QUOTE_ALREADY_USED", field: "quote_id" });
    });
  });
});

describe("quote expiry", () => {
  let mesh: TestMesh;
  beforeAll(async () => {
    mesh = await startTestMesh({ clearingOnly: true, environment: { FEE_SCHEDULE, QUOTE_TTL_MS: "200" } });
    await fund(mesh, "bank-a", "USD", 1_000_000n);
  }, 60_000);
  afterAll(async () => {
    await mesh?.stop();
  });

  it("refuses a transfer citing a lapsed quote with QUOTE_EXPIRED, and a repeated quote id answers the lapsed quote", async () => {
    const bankA = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-a")!);
    try {
      const request = { quoteId: "q-expiring", payerId: "bank-a", payeeId: "bank-b", amountType: AmountType.SEND, amount: { currency: "USD", amountMinor: 10_000n } };
      const made = await bankA.createQuote(request);
      const transfer = { payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 10_000n }, quoteId: made.quoteId };
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await reasonOf(bankA.createTransfer({ transferId: "t-late", ...transfer })))
        .toEqual({ code: Code.FailedPrecondition, reason: "QUOTE_EXPIRED", field: "quote_id" });
      expect(await bankA.createQuote(request)).toEqual(made);
      // In time, a fresh quote works.
      const fresh = await bankA.createQuote({ ...request, quoteId: "q-fresh" });
      expect((await bankA.createTransfer({ transferId: "t-in-time", ...transfer, quoteId: fresh.quoteId })).state).toBe(TransferState.COMMITTED);
      expect((await mesh.operator.getPosition({ participantId: "bank-a", currency: "USD" })).positionMinor).toBe(10_000n);
    } finally {
      bankA.close();
    }
  });
});

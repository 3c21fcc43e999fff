// Money over real ports: funding through a bank's push payment to an alias, P2P inside one
// provider and across providers (exact balances, fees, clearing positions, provider books),
// idempotency, refusals (insufficient funds with no hold left, unknown alias, self), suspense,
// notifications (sealed recipients, preferences), the reconciler with clearing stopped
// mid-payment and with a lost answer, and erasure (nothing personal readable afterwards).
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection, type Subscription } from "nats";
import { fromBinary } from "@bufbuild/protobuf";
import { Channel, ClearingService, EnvelopeSchema, NotificationRequestedSchema, WalletService, WalletTransactionKind, WalletTransactionState, type NotificationRequested } from "@clearmesh/contracts";
import { Code, createSignedClient, type SignedClient } from "@clearmesh/runtime";
import { openStore } from "@clearmesh/store";
import { parseDataKeys, unsealText } from "@clearmesh/trust";
import { clearingGateway, type ClearingGateway } from "../src/payments/clearing.js";
import { verdictOf } from "../src/payments/reconciler.js";
import {
  available, bearer, fundUser, outcomeOf, registerAndLogin, startWalletMesh, waitFor, type TestUser, type WalletClient, type WalletMesh,
} from "./support.js";

describe("wallet payments", () => {
  let walletMesh: WalletMesh;
  let client: WalletClient;
  let nc: NatsConnection;
  let subscription: Subscription;
  const notifications: NotificationRequested[] = [];
  let providerBooks: Record<string, SignedClient<typeof WalletService>>;
  /** When set, the wallet never hears clearing's answer to CreateTransfer (clearing still acts). */
  let loseTransferAnswers = false;
  /** When set, clearing is stopped after the wallet looked the payee up, just before CreateTransfer. */
  let stopClearingBeforeTransfer = false;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;

  beforeAll(async () => {
    walletMesh = await startWalletMesh({
      walletOptions: ({ mesh, clearingAddress }) => {
        const keys = new Map(["wallet-a", "wallet-b"].map((id) => [id, mesh.keys.get(id)!]));
        const clearing = createSignedClient(ClearingService, { address: clearingAddress });
        const real = clearingGateway(clearing, keys, 3_000);
        const lossy: ClearingGateway = {
          ...real,
          async createTransfer(providerId, request) {
            if (stopClearingBeforeTransfer) {
              stopClearingBeforeTransfer = false;
              await walletMesh.stopClearing();
            }
            const outcome = await real.createTransfer(providerId, request);
            return loseTransferAnswers ? { kind: "unknown", problem: "answer lost (test)" } : outcome;
          },
        };
        return { clearing: lossy };
      },
    });
    client = walletMesh.clients[0]!;
    nc = await connect({ servers: walletMesh.mesh.nats.url });
    subscription = nc.subscribe("clearmesh.notify.requested");
    void (async () => {
      for await (const message of subscription) {
        const envelope = fromBinary(EnvelopeSchema, message.data);
        notifications.push(fromBinary(NotificationRequestedSchema, envelope.payload));
      }
    })();
    const address = `127.0.0.1:${walletMesh.wallets[0]!.grpcPort}`;
    providerBooks = Object.fromEntries(["wallet-a", "wallet-b"].map((id) => [id, createSignedClient(WalletService, { address, signer: walletMesh.mesh.keys.get(id)! })]));
    alice = await registerAndLogin(client, "wallet-a", "alice");
    bob = await registerAndLogin(client, "wallet-a", "bob");
    carol = await registerAndLogin(client, "wallet-b", "carol");
  }, 60_000);
  afterAll(async () => {
    for (const books of Object.values(providerBooks ?? {})) books.close();
    await nc?.drain();
    await walletMesh?.stop();
  });

  const position = async (participantId: string) => (await walletMesh.mesh.operator.getPosition({ participantId, currency: "USD" })).positionMinor;
  const books = (providerId: string) => providerBooks[providerId]!.getProviderBooks({ providerId, currency: "USD" });
  const held = async (user: TestUser) => (await client.getBalances({}, bearer(user.token))).wallets.find((wallet) => wallet.held?.currency === "USD")?.held?.amountMinor ?? 0n;
  const aliasRegistered = (alias: string) => waitFor(async () => (await outcomeOf(walletMesh.bank.lookupParty({ alias }))).code === undefined, `alias ${alias} at clearing`);

  it("credits a bank's push payment to the user named by the alias, and registers aliases at clearing", async () => {
    await fundUser(walletMesh, client, alice, 10_000n, "fund-alice-1");
    expect(await available(client, alice)).toBe(10_000n);
    await aliasRegistered(alice.email);
    await aliasRegistered(alice.phone);
    expect((await walletMesh.bank.lookupParty({ alias: carol.email })).participantId).toBe("wallet-b");
    const aBooks = await books("wallet-a");
    expect(aBooks).toMatchObject({ balanced: true, clearingPositionMinor: -10_000n });
    expect(aBooks.userBalances?.amountMinor).toBe(10_000n);
    expect(await position("wallet-a")).toBe(-10_000n);
    // The same transfer delivered again changes nothing (one credit per transfer id).
    const received = await client.listTransactions({}, bearer(alice.token));
    expect(received.transactions).toHaveLength(1);
    expect(received.transactions[0]).toMatchObject({ kind: WalletTransactionKind.RECEIVED, state: WalletTransactionState.COMPLETED, transferId: "fund-alice-1", counterparty: "bank-a" });
  });

  it("sends to a user of the same provider in one local transfer, idempotently, without clearing", async () => {
    const before = await position("wallet-a");
    const request = { requestId: "p2p-local-1", payee: bob.email, amount: { currency: "USD", amountMinor: 2_500n } };
    const sent = await client.sendMoney(request, bearer(alice.token));
    expect(sent).toMatchObject({ kind: WalletTransactionKind.SENT, state: WalletTransactionState.COMPLETED, transferId: "", counterpartyProviderId: "wallet-a" });
    expect(sent.fee?.amountMinor).toBe(0n);
    expect(sent.counterparty).toMatch(/^b\*\*\*@example\.com$/);
    const repeat = await client.sendMoney(request, bearer(alice.token));
    expect(repeat.transactionId).toBe(sent.transactionId);
    const conflict = await outcomeOf(client.sendMoney({ ...request, amount: { currency: "USD", amountMinor: 2_501n } }, bearer(alice.token)));
    expect(conflict).toMatchObject({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "amount_minor" });
    expect(await available(client, alice)).toBe(7_500n);
    expect(await available(client, bob)).toBe(2_500n);
    expect(await position("wallet-a")).toBe(before);
    const bobs = await client.listTransactions({}, bearer(bob.token));
    expect(bobs.transactions[0]).toMatchObject({ kind: WalletTransactionKind.RECEIVED, state: WalletTransactionState.COMPLETED });
    expect(bobs.transactions[0]!.counterparty).toMatch(/^a\*\*\*@example\.com$/);
    expect((await books("wallet-a")).balanced).toBe(true);
  });

  it("quotes and sends to an alias at another provider: fee, clearing positions and both books agree", async () => {
    await aliasRegistered(carol.email);
    const quote = await client.quoteSend({ payee: carol.email, amount: { currency: "USD", amountMinor: 1_000n } }, bearer(alice.token));
    expect(quote.payeeProviderId).toBe("wallet-b");
    expect(quote.fee?.amountMinor).toBe(20n);
    expect(quote.receiveAmount?.amountMinor).toBe(980n);
    const localQuote = await client.quoteSend({ payee: bob.phone, amount: { currency: "USD", amountMinor: 1_000n } }, bearer(alice.token));
    expect(localQuote).toMatchObject({ quoteId: "", payeeProviderId: "wallet-a" });
    expect(localQuote.fee?.amountMinor).toBe(0n);
    const before = { a: await position("wallet-a"), b: await position("wallet-b"), operator: await position("operator") };
    const sent = await client.sendMoney({ requestId: "p2p-cross-1", payee: carol.email, amount: { currency: "USD", amountMinor: 1_000n }, quoteId: quote.quoteId }, bearer(alice.token));
    expect(sent).toMatchObject({ state: WalletTransactionState.COMPLETED, counterpartyProviderId: "wallet-b", transferId: sent.transactionId });
    expect(sent.fee?.amountMinor).toBe(20n);
    expect(await available(client, alice)).toBe(6_500n);
    await waitFor(async () => (await available(client, carol)) === 980n, "carol's credit");
    expect(await position("wallet-a")).toBe(before.a + 1_000n);
    expect(await position("wallet-b")).toBe(before.b - 980n);
    expect(await position("operator")).toBe(before.operator - 20n);
    const aBooks = await books("wallet-a");
    const bBooks = await books("wallet-b");
    expect([aBooks.balanced, aBooks.clearingPositionMinor, aBooks.held?.amountMinor]).toEqual([true, await position("wallet-a"), 0n]);
    expect([bBooks.balanced, bBooks.clearingPositionMinor, bBooks.userBalances?.amountMinor]).toEqual([true, await position("wallet-b"), 980n]);
    // A quote pays for one transfer.
    const reused = await outcomeOf(client.sendMoney({ requestId: "p2p-cross-2", payee: carol.email, amount: { currency: "USD", amountMinor: 1_000n }, quoteId: quote.quoteId }, bearer(alice.token)));
    expect(reused).toMatchObject({ code: Code.FailedPrecondition, reason: "QUOTE_ALREADY_USED" });
    expect(await held(alice)).toBe(0n);
    expect(await available(client, alice)).toBe(6_500n);
    // Someone else's quote is not yours.
    expect((await outcomeOf(client.sendMoney({ requestId: "p2p-cross-3", payee: carol.email, amount: { currency: "USD", amountMinor: 1_000n }, quoteId: quote.quoteId }, bearer(bob.token)))).reason).toBe("QUOTE_NOT_FOUND");
    // Without a quote clearing prices it from its schedule; by phone alias this time.
    await aliasRegistered(carol.phone);
    const byPhone = await client.sendMoney({ requestId: "p2p-cross-4", payee: carol.phone, amount: { currency: "USD", amountMinor: 500n } }, bearer(alice.token));
    expect(byPhone.fee?.amountMinor).toBe(15n);
    await waitFor(async () => (await available(client, carol)) === 980n + 485n, "carol's second credit");
  });

  it("refuses spending beyond the balance with INSUFFICIENT_FUNDS and leaves no hold; unknown alias NOT_FOUND; self INVALID_ARGUMENT", async () => {
    const aliceBefore = await available(client, alice);
    for (const [index, payee] of [bob.email, carol.email].entries()) {
      const outcome = await outcomeOf(client.sendMoney({ requestId: `too-much-${index}`, payee, amount: { currency: "USD", amountMinor: aliceBefore + 1n } }, bearer(alice.token)));
      expect(outcome).toMatchObject({ code: Code.FailedPrecondition, reason: "INSUFFICIENT_FUNDS" });
    }
    expect(await held(alice)).toBe(0n);
    expect(await available(client, alice)).toBe(aliceBefore);
    const none = await client.listTransactions({}, bearer(alice.token));
    expect(none.transactions.some((transaction) => transaction.requestId.startsWith("too-much"))).toBe(false);
    expect(await outcomeOf(client.sendMoney({ requestId: "unknown-1", payee: "nobody.here@example.org", amount: { currency: "USD", amountMinor: 1n } }, bearer(alice.token))))
      .toMatchObject({ code: Code.NotFound, reason: "PAYEE_NOT_FOUND", field: "payee" });
    expect(await outcomeOf(client.quoteSend({ payee: "+15550000001", amount: { currency: "USD", amountMinor: 1n } }, bearer(alice.token))))
      .toMatchObject({ code: Code.NotFound, reason: "PAYEE_NOT_FOUND" });
    expect(await outcomeOf(client.sendMoney({ requestId: "self-1", payee: alice.phone, amount: { currency: "USD", amountMinor: 1n } }, bearer(alice.token))))
      .toMatchObject({ code: Code.InvalidArgument, reason: "SAME_USER" });
    expect(await outcomeOf(client.sendMoney({ requestId: "bad-1", payee: bob.email, amount: { currency: "USD", amountMinor: -5n } }, bearer(alice.token))))
      .toMatchObject({ code: Code.InvalidArgument, field: "amount.amount_minor" });
  });

  it("keeps money for an alias no user holds in the provider's suspense account", async () => {
    await walletMesh.bank.createTransfer({ transferId: "to-nobody-1", payerId: "bank-a", payeeId: "wallet-b", amount: { currency: "USD", amountMinor: 700n }, payeeReference: "ghost@example.com" });
    await waitFor(async () => (await books("wallet-b")).suspense?.amountMinor === 700n, "suspense");
    const bBooks = await books("wallet-b");
    expect(bBooks.balanced).toBe(true);
    expect(bBooks.clearingPositionMinor).toBe(await position("wallet-b"));
  });

  it("publishes notify.requested for every finished movement, sealed with NOTIFY_DATA_KEYS, per the user's preferences", async () => {
    const notifyKeys = parseDataKeys(fs.readFileSync(path.join(walletMesh.mesh.dataDir, "keys", "notify-data-keys"), "utf8").trim());
    await waitFor(() => notifications.filter((note) => note.kind === "transfer.sent").length >= 3, "sent notifications");
    const sent = notifications.find((note) => note.kind === "transfer.sent")!;
    expect(sent.channels).toEqual([Channel.EMAIL]);
    expect(unsealText(notifyKeys, sent.sealedParameters["email"]!)).toBe(alice.email);
    expect(sent.recipientHint).toBe(`a***@example.com`);
    expect(JSON.parse(sent.parameters["amount"]!)).toEqual({ currency: "USD", amountMinor: "2500" });
    expect(notifications.some((note) => note.kind === "transfer.received" && unsealText(notifyKeys, note.sealedParameters["email"]!) === carol.email)).toBe(true);
    const prefs = await client.setNotificationPreferences({ preferences: [{ kind: "transfer.received", channels: [Channel.SMS] }, { kind: "transfer.sent", channels: [] }] }, bearer(bob.token));
    expect(prefs.preferences.find((entry) => entry.kind === "transfer.received")?.channels).toEqual([Channel.SMS]);
    expect(prefs.preferences.find((entry) => entry.kind === "movement.failed")?.channels).toEqual([Channel.SMS]);
    expect((await outcomeOf(client.setNotificationPreferences({ preferences: [{ kind: "nope", channels: [] }] }, bearer(bob.token)))).field).toBe("preferences[0].kind");
    const count = notifications.length;
    await client.sendMoney({ requestId: "notify-1", payee: bob.email, amount: { currency: "USD", amountMinor: 100n } }, bearer(alice.token));
    await client.sendMoney({ requestId: "notify-2", payee: alice.email, amount: { currency: "USD", amountMinor: 50n } }, bearer(bob.token));
    await waitFor(() => notifications.length >= count + 3, "three more notifications");
    const toBob = notifications.slice(count).filter((note) => unsealText(notifyKeys, Object.values(note.sealedParameters)[0]!) === bob.phone);
    expect(toBob.map((note) => [note.kind, note.channels])).toEqual([["transfer.received", [Channel.SMS]]]);
    expect(toBob[0]!.sealedParameters["email"]).toBeUndefined();
  });

  it("releases the hold when clearing was stopped mid-payment and never got the transfer", async () => {
    const before = { alice: await available(client, alice), a: await position("wallet-a"), b: await position("wallet-b") };
    stopClearingBeforeTransfer = true;
    const pending = await client.sendMoney({ requestId: "while-down-1", payee: carol.email, amount: { currency: "USD", amountMinor: 300n } }, bearer(alice.token));
    expect(pending.state).toBe(WalletTransactionState.PENDING);
    expect(await held(alice)).toBe(300n);
    // Erasure waits for it.
    expect((await outcomeOf(client.eraseUser({ password: alice.password }, bearer(alice.token)))).reason).toBe("MOVEMENT_IN_FLIGHT");
    await walletMesh.restartClearing();
    await waitFor(async () => (await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token))).state !== WalletTransactionState.PENDING, "reconciler", 15_000);
    const settled = await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token));
    expect(settled).toMatchObject({ state: WalletTransactionState.FAILED, failureReason: "TRANSFER_NOT_FOUND" });
    expect(await held(alice)).toBe(0n);
    expect(await available(client, alice)).toBe(before.alice);
    expect(await position("wallet-a")).toBe(before.a);
    expect(await position("wallet-b")).toBe(before.b);
    // The id is retired at clearing: the original request arriving late moves nothing.
    const late = await outcomeOf(walletMesh.clearingAs("wallet-a").createTransfer({
      transferId: pending.transferId, payerId: "wallet-a", payeeId: "wallet-b", amount: { currency: "USD", amountMinor: 300n }, payerReference: pending.transactionId, payeeReference: carol.email,
    }));
    expect(late.reason).toBe("IDEMPOTENCY_CONFLICT");
    expect(await position("wallet-a")).toBe(before.a);
    await waitFor(() => notifications.some((note) => note.kind === "movement.failed" && note.channels[0] === Channel.SMS), "failure notification by SMS");
  }, 30_000);

  it("completes a payment exactly once when clearing committed it but the answer was lost", async () => {
    const before = { alice: await available(client, alice), carol: await available(client, carol), a: await position("wallet-a") };
    loseTransferAnswers = true;
    const pending = await client.sendMoney({ requestId: "lost-answer-1", payee: carol.email, amount: { currency: "USD", amountMinor: 400n } }, bearer(alice.token)).finally(() => { loseTransferAnswers = false; });
    // The committed event may have completed it before the call returned.
    expect([WalletTransactionState.PENDING, WalletTransactionState.COMPLETED]).toContain(pending.state);
    await waitFor(async () => (await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token))).state === WalletTransactionState.COMPLETED, "completion", 15_000);
    await waitFor(async () => (await available(client, carol)) === before.carol + 386n, "carol's credit");
    // Give the reconciler time to look again: nothing changes twice.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await available(client, alice)).toBe(before.alice - 400n);
    expect(await held(alice)).toBe(0n);
    expect(await position("wallet-a")).toBe(before.a + 400n);
    expect((await books("wallet-a")).balanced).toBe(true);
    expect((await books("wallet-b")).balanced).toBe(true);
  }, 30_000);

  it("the reconciler reads clearing's verdict: committed with its fee, unknown ids retired, reserved ones aborted", async () => {
    const gateway = clearingGateway(walletMesh.clearingAs("wallet-b") as never, new Map([["wallet-b", walletMesh.mesh.keys.get("wallet-b")!]]), 3_000);
    const row = (transferId: string, amountMinor: bigint) => ({
      movement_id: `mv-${transferId}`, provider_id: "wallet-b", user_id: "u", kind: "sent", state: "pending", currency: "USD", amount_minor: amountMinor, fee_minor: 0n,
      counterparty_sealed: null, counterparty_provider_id: "wallet-a", request_id: null, fingerprint: null, transfer_id: transferId, quote_id: null, reference: null, counterparty_name: "", merchant_reference: "",
      failure_reason: "", failure_message: "", created_at_ms: 0n, completed_at_ms: null, next_check_at_ms: 0n,
    }) as const;
    // wallet-b pays outside its books here; wallet-a receives into suspense, so its books stay exact.
    const asB = walletMesh.clearingAs("wallet-b");
    await asB.createTransfer({ transferId: "verdict-committed", payerId: "wallet-b", payeeId: "wallet-a", amount: { currency: "USD", amountMinor: 100n }, payeeReference: "ghost@example.com" });
    expect(await verdictOf(gateway, { ...row("verdict-committed", 100n) }, Date.now())).toEqual({ kind: "committed", feeMinor: 11n, committedMinor: 100n });
    await asB.prepareTransfer({ transferId: "verdict-reserved", payerId: "wallet-b", payeeId: "wallet-a", amount: { currency: "USD", amountMinor: 100n }, expiresAt: { seconds: BigInt(Math.floor(Date.now() / 1000) + 60), nanos: 0 } });
    expect(await verdictOf(gateway, { ...row("verdict-reserved", 100n) }, Date.now())).toMatchObject({ kind: "released", reason: "TRANSFER_ABORTED" });
    expect(await verdictOf(gateway, { ...row("verdict-unknown", 100n) }, Date.now())).toMatchObject({ kind: "released", reason: "TRANSFER_NOT_FOUND", abortPlaceholder: true });
    // The payee cannot commit the placeholder: it is hash-locked with a secret nobody has.
    const asA = walletMesh.clearingAs("wallet-a");
    expect((await outcomeOf(asA.commitTransfer({ transferId: "verdict-unknown" }))).reason).toBe("FULFILMENT_MISMATCH");
  });

  it("pages transactions newest first and filters by date", async () => {
    const all = await client.listTransactions({}, bearer(alice.token));
    const times = all.transactions.map((transaction) => Number(transaction.createdAt!.seconds) * 1000 + transaction.createdAt!.nanos / 1e6);
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    const first = await client.listTransactions({ page: { pageSize: 2 } }, bearer(alice.token));
    const second = await client.listTransactions({ page: { pageSize: 2, pageToken: first.page!.nextPageToken } }, bearer(alice.token));
    expect([...first.transactions, ...second.transactions].map((transaction) => transaction.transactionId)).toEqual(all.transactions.slice(0, 4).map((transaction) => transaction.transactionId));
    const future = await client.listTransactions({ createdFrom: { seconds: BigInt(Math.floor(Date.now() / 1000) + 60), nanos: 0 } }, bearer(alice.token));
    expect(future.transactions).toEqual([]);
    expect((await outcomeOf(client.getTransaction({ transactionId: all.transactions[0]!.transactionId }, bearer(bob.token)))).reason).toBe("TRANSACTION_NOT_FOUND");
  });

  it("erases a user with zero balances: nothing personal can be read back, the books still balance", async () => {
    expect((await outcomeOf(client.eraseUser({ password: bob.password }, bearer(bob.token))))).toMatchObject({ code: Code.FailedPrecondition, reason: "BALANCE_NOT_ZERO" });
    const rest = await available(client, bob);
    await client.sendMoney({ requestId: "empty-bob", payee: alice.email, amount: { currency: "USD", amountMinor: rest } }, bearer(bob.token));
    expect(await outcomeOf(client.eraseUser({ password: "not bob's password" }, bearer(bob.token)))).toMatchObject({ code: Code.Unauthenticated });
    const erased = await client.eraseUser({ password: bob.password }, bearer(bob.token));
    expect(erased.userId).toBe(bob.userId);
    expect((await outcomeOf(client.getBalances({}, bearer(bob.token)))).code).toBe(Code.Unauthenticated);
    expect((await outcomeOf(client.login({ email: bob.email, password: bob.password }))).code).toBe(Code.Unauthenticated);
    // Money to the erased alias goes to suspense; the address can register afresh.
    expect(await outcomeOf(client.sendMoney({ requestId: "to-erased", payee: bob.email, amount: { currency: "USD", amountMinor: 1n } }, bearer(alice.token)))).toMatchObject({ reason: "PAYEE_NOT_FOUND" });

    const store = await openStore({ url: `sqlite:${path.join(walletMesh.mesh.dataDir, "wallet.db")}` });
    try {
      const [row] = await store.query<Record<string, unknown>>("SELECT * FROM users WHERE user_id = $1", [bob.userId]);
      expect(row).toMatchObject({ status: "erased", email_hash: null, phone_hash: null, email_sealed: null, phone_sealed: null, display_name_sealed: null, totp_secret_sealed: null });
      expect(await store.query("SELECT * FROM user_keys WHERE user_id = $1", [bob.userId])).toEqual([]);
      const ledger = await store.query<{ amount_minor: bigint }>("SELECT e.amount_minor FROM entries e JOIN accounts a ON a.account_id = e.account_id WHERE a.user_id = $1", [bob.userId]);
      expect(ledger.length).toBeGreaterThan(0);
      const everything = JSON.stringify(await Promise.all(["users", "user_keys", "sessions", "accounts", "movements", "entries", "suspense_items", "alias_registrations", "wallet_quotes", "notification_preferences", "outbox"]
        .map((table) => store.query(`SELECT * FROM ${table}`))), (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : value));
      for (const personal of [bob.email, bob.phone, bob.displayName]) expect(everything.includes(personal), personal).toBe(false);
    } finally {
      await store.close();
    }
    for (const file of fs.readdirSync(walletMesh.mesh.dataDir).filter((name) => name.startsWith("wallet.db"))) {
      const bytes = fs.readFileSync(path.join(walletMesh.mesh.dataDir, file));
      for (const personal of [bob.email, bob.phone, bob.displayName]) expect(bytes.includes(Buffer.from(personal)), `${personal} in ${file}`).toBe(false);
    }
    const aBooks = await books("wallet-a");
    expect(aBooks.balanced).toBe(true);
    expect(aBooks.clearingPositionMinor).toBe(await position("wallet-a"));
    const again = await client.registerUser({ email: bob.email, phone: bob.phone, displayName: "Bob again", password: bob.password }, { metadata: { "x-client-id": "bob-again" } });
    expect(again.userId).not.toBe(bob.userId);
  });
});

// The wallet issue's acceptance over the whole mesh (test/support/mesh.ts: clearing, bank-adapter,
// wallet, e-commerce-connector, notifier, a real nats-server): user A links a bank account with
// the bank's one-time code, tops up from it, sends money to user B at the other wallet provider,
// pays a merchant's payment intent (twice: one payment), withdraws to the bank; the user
// balances, the clearing positions, the bank account and the providers' books agree to the minor
// unit, and the notification events are out.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "nats";
import { fromBinary } from "@bufbuild/protobuf";
import {
  BankAccountState, BankAdapterService, CaptureMethod, CommerceService, EnvelopeSchema, NotificationRequestedSchema, PaymentIntentState, WalletService,
  WalletTransactionState, type NotificationRequested,
} from "@clearmesh/contracts";
import { Code, createLogger, createSignedClient, loadSettings, type SignedClient } from "@clearmesh/runtime";
import { createSigningKey, generateSeed, parseDataKeys, unsealText } from "@clearmesh/trust";
import { startWallet, walletSettingsSchema } from "@clearmesh/wallet";
import { commerceConnectorSettingsSchema, startCommerceConnector } from "@clearmesh/e-commerce-connector";
import { commerceGateway, type CommerceGateway } from "../src/payments/partners.js";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";
import { FAST_WALLET_ENVIRONMENT, FEE_SCHEDULE, bearer, outcomeOf, registerAndLogin, waitFor, type WalletClient } from "./support.js";

type Envelope = { producer: string; message: NotificationRequested };

describe("wallet across the whole mesh", () => {
  let mesh: TestMesh;
  let client: WalletClient;
  let nc: NatsConnection;
  const notifications: Envelope[] = [];
  const closers: Array<{ close(): void }> = [];
  /** When set, the connector is stopped just before the wallet's ConfirmPaymentIntent. */
  let stopConnectorBeforeConfirm = false;

  beforeAll(async () => {
    mesh = await startTestMesh({ environment: { FEE_SCHEDULE } });
    // The mesh's wallet does not know where the bank-adapter and the connector listen (free
    // ports): replace it with one that does, on the same data folder.
    await mesh.services.wallet.stop();
    mesh.services.wallet = await startWallet(loadSettings(walletSettingsSchema(), {
      ...mesh.environment, ...FAST_WALLET_ENVIRONMENT,
      CLEARING_ADDRESS: `127.0.0.1:${mesh.services.clearing.grpcPort}`,
      BANK_ADAPTER_ADDRESS: `127.0.0.1:${mesh.services["bank-adapter"].grpcPort}`,
      COMMERCE_ADDRESS: `127.0.0.1:${mesh.services["e-commerce-connector"].grpcPort}`,
    }), { logger: createLogger({ service: "wallet", level: "silent" }), commerce: stoppableCommerce() });
    await mesh.services.wallet.ready;
    for (const [participantId, amountMinor] of Object.entries({ "bank-a": 1_000_000n, "wallet-a": 1_000_000n, "wallet-b": 1_000_000n, "acquirer-a": 1_000_000n })) {
      await mesh.operator.depositLiquidity({ requestId: `fund-${participantId}`, participantId, amount: { currency: "USD", amountMinor } });
      await mesh.operator.setNetDebitCap({ requestId: `cap-${participantId}`, participantId, cap: { currency: "USD", amountMinor } });
    }
    client = createSignedClient(WalletService, { address: `127.0.0.1:${mesh.services.wallet.grpcPort}` });
    closers.push(client);
    nc = await connect({ servers: mesh.nats.url });
    const subscription = nc.subscribe("clearmesh.notify.requested");
    void (async () => {
      for await (const message of subscription) {
        const envelope = fromBinary(EnvelopeSchema, message.data);
        notifications.push({ producer: envelope.producer, message: fromBinary(NotificationRequestedSchema, envelope.payload) });
      }
    })();
  }, 90_000);
  afterAll(async () => {
    for (const closer of closers) closer.close();
    await nc?.drain();
    await mesh?.stop();
  });

  const as = <S extends Parameters<typeof clientFor>[2]>(service: Parameters<typeof clientFor>[1], descriptor: S, participantId: string) => {
    const made = clientFor(mesh, service, descriptor, mesh.keys.get(participantId)!);
    closers.push(made);
    return made;
  };
  const position = async (participantId: string) => (await mesh.operator.getPosition({ participantId, currency: "USD" })).positionMinor;
  const availableOf = async (token: string) => (await client.getBalances({}, bearer(token))).balances.find((money) => money.currency === "USD")?.amountMinor ?? 0n;

  it("tops up from a linked bank account, sends to another provider, pays an intent once, withdraws; everything agrees", async () => {
    const notifyKeys = parseDataKeys(fs.readFileSync(path.join(mesh.dataDir, "keys", "notify-data-keys"), "utf8").trim());
    const alice = await registerAndLogin(client, "wallet-a", "alice");
    const carol = await registerAndLogin(client, "wallet-b", "carol");
    const bankA = as("bank-adapter", BankAdapterService, "bank-a");
    const account = await bankA.openAccount({ requestId: "open-alice", bankId: "bank-a", holderName: "Alice", currency: "USD", holderEmail: alice.email, holderPhone: alice.phone });
    await bankA.depositCash({ requestId: "cash-alice", accountId: account.accountId, amount: { currency: "USD", amountMinor: 50_000n } });
    const start = Object.fromEntries(await Promise.all(["bank-a", "wallet-a", "wallet-b", "acquirer-a", "operator"].map(async (id) => [id, await position(id)] as const)));

    // Link: the bank sends the holder a one-time code; a wrong one is PERMISSION_DENIED.
    const limits = { perTransferLimit: { currency: "USD", amountMinor: 20_000n }, dailyLimit: { currency: "USD", amountMinor: 40_000n } };
    const link = await client.linkBankAccount({ requestId: "link-1", bankId: "bank-a", accountId: account.accountId, ...limits }, bearer(alice.token));
    expect(link.state).toBe(BankAccountState.PENDING_CONFIRMATION);
    expect(link.maskedAccountNumber).toMatch(/^\*\*\*\*\d{4}$/);
    const codeNote = await waitForNote((note) => note.message.kind === "mandate.code" && unsealText(notifyKeys, note.message.sealedParameters["email"] ?? note.message.sealedParameters["phone"]!) !== "" && note.producer === "bank-adapter");
    const code = unsealText(notifyKeys, codeNote.message.sealedParameters["code"]!);
    const wrong = code === "000000" ? "111111" : "000000";
    expect(await outcomeOf(client.confirmBankAccount({ linkId: link.linkId, code: wrong }, bearer(alice.token)))).toMatchObject({ code: Code.PermissionDenied, reason: "MANDATE_INVALID" });
    expect(await outcomeOf(client.topUp({ requestId: "early", linkId: link.linkId, amount: { currency: "USD", amountMinor: 1n } }, bearer(alice.token)))).toMatchObject({ reason: "BANK_ACCOUNT_NOT_ACTIVE" });
    const linked = await client.confirmBankAccount({ linkId: link.linkId, code }, bearer(alice.token));
    expect(linked.state).toBe(BankAccountState.ACTIVE);
    expect((await client.listBankAccounts({}, bearer(alice.token))).bankAccounts.map((entry) => entry.maskedAccountNumber)).toEqual([link.maskedAccountNumber]);

    // Top-up: the bank pulls 10 000; banks pay no fee in this schedule.
    const topUp = await client.topUp({ requestId: "topup-1", linkId: link.linkId, amount: { currency: "USD", amountMinor: 10_000n } }, bearer(alice.token));
    await waitFor(async () => (await client.getTransaction({ transactionId: topUp.transactionId }, bearer(alice.token))).state === WalletTransactionState.COMPLETED, "top-up");
    expect(await availableOf(alice.token)).toBe(10_000n);
    expect(await outcomeOf(client.topUp({ requestId: "topup-big", linkId: link.linkId, amount: { currency: "USD", amountMinor: 20_001n } }, bearer(alice.token))))
      .toMatchObject({ code: Code.FailedPrecondition, reason: "MANDATE_LIMIT_EXCEEDED" });

    // P2P to the other provider: fee 10 + 1 % = 30.
    await waitFor(async () => (await outcomeOf(as("clearing", (await import("@clearmesh/contracts")).ClearingService, "wallet-a").lookupParty({ alias: carol.email }))).code === undefined, "carol's alias");
    const sent = await client.sendMoney({ requestId: "send-1", payee: carol.email, amount: { currency: "USD", amountMinor: 2_000n } }, bearer(alice.token));
    expect(sent.state).toBe(WalletTransactionState.COMPLETED);
    await waitFor(async () => (await availableOf(carol.token)) === 1_970n, "carol's credit");

    // A merchant's intent, paid twice: one payment. Fee 10 + 1 % of 3 000 = 40.
    const merchant = await newMerchant("shop-wallet");
    const intent = await merchant.createPaymentIntent({
      paymentIntentId: "pi-wallet-1", merchantId: "shop-wallet", amount: { currency: "USD", amountMinor: 3_000n }, merchantReference: "order-7", description: "tea", captureMethod: CaptureMethod.AUTOMATIC,
    });
    const paid = await client.payPaymentIntent({ requestId: "pay-1", paymentIntentId: intent.paymentIntentId }, bearer(alice.token));
    expect(paid.state).toBe(WalletTransactionState.COMPLETED);
    const again = await client.payPaymentIntent({ requestId: "pay-2", paymentIntentId: intent.paymentIntentId }, bearer(alice.token));
    expect(again.transactionId).toBe(paid.transactionId);
    expect(await outcomeOf(client.payPaymentIntent({ requestId: "pay-3", paymentIntentId: intent.paymentIntentId }, bearer(carol.token)))).toMatchObject({ code: Code.NotFound, reason: "INTENT_NOT_FOUND" });
    expect((await merchant.getPaymentIntent({ paymentIntentId: intent.paymentIntentId })).state).toBe(PaymentIntentState.SUCCEEDED);

    // Withdraw 1 000 to the linked account: the bank receives 1 000 − (10 + 10).
    const withdrawal = await client.withdraw({ requestId: "withdraw-1", linkId: link.linkId, amount: { currency: "USD", amountMinor: 1_000n } }, bearer(alice.token));
    expect(withdrawal.state).toBe(WalletTransactionState.COMPLETED);
    expect(await outcomeOf(client.withdraw({ requestId: "withdraw-2", linkId: link.linkId, amount: { currency: "USD", amountMinor: 1_000_000n } }, bearer(alice.token))))
      .toMatchObject({ reason: "INSUFFICIENT_FUNDS" });

    expect(await availableOf(alice.token)).toBe(10_000n - 2_000n - 3_000n - 1_000n);
    await waitFor(async () => (await bankA.getAccount({ accountId: account.accountId })).balance?.amountMinor === 50_000n - 10_000n + 980n, "the bank credit");
    const moved = {
      "bank-a": 10_000n - 980n, "wallet-a": -10_000n + 2_000n + 3_000n + 1_000n, "wallet-b": -1_970n, "acquirer-a": -(3_000n - 40n), operator: -(30n + 40n + 20n),
    };
    for (const [participantId, delta] of Object.entries(moved)) expect([participantId, await position(participantId)]).toEqual([participantId, start[participantId]! + delta]);
    const booksClient = createSignedClient(WalletService, { address: `127.0.0.1:${mesh.services.wallet.grpcPort}`, signer: mesh.keys.get("operator")! });
    closers.push(booksClient);
    for (const providerId of ["wallet-a", "wallet-b"]) {
      const books = await booksClient.getProviderBooks({ providerId, currency: "USD" });
      expect([providerId, books.balanced, books.held?.amountMinor, books.clearingPositionMinor]).toEqual([providerId, true, 0n, await position(providerId)]);
    }

    const kinds = ["topup.completed", "transfer.sent", "transfer.received", "payment.succeeded", "withdrawal.completed"];
    for (const kind of kinds) await waitForNote((note) => note.producer === "wallet" && note.message.kind === kind);
    const payment = notifications.find((note) => note.message.kind === "payment.succeeded")!;
    expect(payment.message.parameters["merchant"]).toBe("shop-wallet");
    expect(unsealText(notifyKeys, payment.message.sealedParameters["email"]!)).toBe(alice.email);
  }, 60_000);

  it("pays a manual-capture intent: the hold waits for the capture, which debits the captured part and releases the rest", async () => {
    const alice = await registerAndLogin(client, "wallet-a", "manual");
    await fundByBank(alice.email, "wallet-a", 5_000n, "fund-manual");
    await waitFor(async () => (await availableOf(alice.token)) === 5_000n, "funding");
    const merchant = await newMerchant("shop-manual");
    const intent = await merchant.createPaymentIntent({
      paymentIntentId: "pi-manual-1", merchantId: "shop-manual", amount: { currency: "USD", amountMinor: 2_000n }, merchantReference: "order-8", description: "hat", captureMethod: CaptureMethod.MANUAL,
    });
    const pending = await client.payPaymentIntent({ requestId: "pay-manual", paymentIntentId: intent.paymentIntentId }, bearer(alice.token));
    expect(pending.state).toBe(WalletTransactionState.PENDING);
    expect(await availableOf(alice.token)).toBe(3_000n);
    // Past the hold timeout the reconciler sees the connector waiting for the capture, and waits too.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token))).state).toBe(WalletTransactionState.PENDING);
    await merchant.capturePaymentIntent({ paymentIntentId: intent.paymentIntentId, amount: { currency: "USD", amountMinor: 1_500n } });
    await waitFor(async () => (await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token))).state === WalletTransactionState.COMPLETED, "capture");
    const done = await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token));
    expect(done.amount?.amountMinor).toBe(1_500n);
    const balances = await client.getBalances({}, bearer(alice.token));
    expect(balances.wallets[0]).toMatchObject({ balance: { amountMinor: 3_500n }, held: { amountMinor: 0n } });
  }, 30_000);

  it("releases the hold once when the connector was stopped before it got the confirmation", async () => {
    const alice = await registerAndLogin(client, "wallet-a", "stopped");
    await fundByBank(alice.email, "wallet-a", 5_000n, "fund-stopped");
    await waitFor(async () => (await availableOf(alice.token)) === 5_000n, "funding");
    const merchant = await newMerchant("shop-stopped");
    const intent = await merchant.createPaymentIntent({
      paymentIntentId: "pi-stopped-1", merchantId: "shop-stopped", amount: { currency: "USD", amountMinor: 1_200n }, merchantReference: "order-9", description: "mug", captureMethod: CaptureMethod.AUTOMATIC,
    });
    const walletBefore = await position("wallet-a");
    stopConnectorBeforeConfirm = true;
    const pending = await client.payPaymentIntent({ requestId: "pay-stopped", paymentIntentId: intent.paymentIntentId }, bearer(alice.token));
    expect(pending.state).toBe(WalletTransactionState.PENDING);
    expect(await availableOf(alice.token)).toBe(3_800n);
    const connectorPort = mesh.services["e-commerce-connector"].grpcPort;
    mesh.services["e-commerce-connector"] = await startCommerceConnector(loadSettings(commerceConnectorSettingsSchema(), {
      ...mesh.environment, CLEARING_ADDRESS: `127.0.0.1:${mesh.services.clearing.grpcPort}`, BANK_ADAPTER_ADDRESS: `127.0.0.1:${mesh.services["bank-adapter"].grpcPort}`, GRPC_PORT: String(connectorPort),
    }), { logger: createLogger({ service: "e-commerce-connector", level: "silent" }) });
    await mesh.services["e-commerce-connector"].ready;
    await waitFor(async () => (await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token))).state !== WalletTransactionState.PENDING, "reconciler", 20_000);
    expect(await client.getTransaction({ transactionId: pending.transactionId }, bearer(alice.token))).toMatchObject({ state: WalletTransactionState.FAILED, failureReason: "TRANSFER_ABORTED" });
    expect(await availableOf(alice.token)).toBe(5_000n);
    expect(await position("wallet-a")).toBe(walletBefore);
    expect((await mesh.operator.getPosition({ participantId: "wallet-a", currency: "USD" })).reservedMinor).toBe(0n);
    // The intent can still be paid, once.
    const paid = await client.payPaymentIntent({ requestId: "pay-stopped-2", paymentIntentId: intent.paymentIntentId }, bearer(alice.token));
    expect(paid.state).toBe(WalletTransactionState.COMPLETED);
    expect(await availableOf(alice.token)).toBe(3_800n);
  }, 40_000);

  function stoppableCommerce(): CommerceGateway {
    const keys = new Map(["wallet-a", "wallet-b"].map((id) => [id, mesh.keys.get(id)!]));
    let real: CommerceGateway | undefined;
    const gateway = () => {
      const address = `127.0.0.1:${mesh.services["e-commerce-connector"].grpcPort}`;
      const commerce = createSignedClient(CommerceService, { address });
      closers.push(commerce);
      return (real ??= commerceGateway(commerce, keys, 3_000));
    };
    return {
      getPaymentIntent: (providerId, id) => gateway().getPaymentIntent(providerId, id),
      async confirmPaymentIntent(providerId, request) {
        if (stopConnectorBeforeConfirm) {
          stopConnectorBeforeConfirm = false;
          await mesh.services["e-commerce-connector"].stop();
        }
        return gateway().confirmPaymentIntent(providerId, request);
      },
    };
  }

  async function newMerchant(merchantId: string): Promise<SignedClient<typeof CommerceService>> {
    const key = createSigningKey(merchantId, `${merchantId}-1`, generateSeed());
    await as("e-commerce-connector", CommerceService, "operator").registerMerchant({
      merchantId, name: merchantId, webhookUrl: "http://127.0.0.1:9/hooks", keyId: key.keyId, publicKey: key.publicKey, acquirerId: "acquirer-a",
    });
    const merchant = createSignedClient(CommerceService, { address: `127.0.0.1:${mesh.services["e-commerce-connector"].grpcPort}`, signer: key });
    closers.push(merchant);
    return merchant;
  }

  async function fundByBank(alias: string, providerId: string, amountMinor: bigint, transferId: string): Promise<void> {
    await as("clearing", (await import("@clearmesh/contracts")).ClearingService, "bank-a").createTransfer({ transferId, payerId: "bank-a", payeeId: providerId, amount: { currency: "USD", amountMinor }, payeeReference: alias });
  }

  async function waitForNote(match: (note: Envelope) => boolean): Promise<Envelope> {
    let found: Envelope | undefined;
    await waitFor(() => (found = notifications.find(match)) !== undefined, "a notification");
    return found!;
  }
});

// The connector over a real mesh (clearing, bank-adapter, connector; SQLite): merchants and
// their keys, wallet payments with automatic and manual (partial) capture, refunds, every bad
// input answered with its reason and no effect, and signed webhooks verified by a local sink.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaptureMethod, PaymentIntentState, RefundState, TransferState } from "@clearmesh/contracts";
import { createSigningKey, generateSeed } from "@clearmesh/trust";
import {
  FEE_SCHEDULE, GrpcCode, WebhookSink, failureOf, fund, positionOf, prepareWalletTransfer, registerMerchant, startCommerceMesh, waitFor,
  type CommerceMesh, type TestMerchant,
} from "./support.js";

let cm: CommerceMesh;
let sink: WebhookSink;
let shop: TestMerchant;
let other: TestMerchant;
let counter = 0;
const nextId = (prefix: string) => `${prefix}-${Date.now()}-${(counter += 1)}`;
const usd = (amountMinor: bigint) => ({ currency: "USD", amountMinor });

beforeAll(async () => {
  cm = await startCommerceMesh({ WEBHOOK_BACKOFF_MS: "50,100", WEBHOOK_POLL_MS: "50" });
  expect(FEE_SCHEDULE).toContain("WALLET_PROVIDER");
  sink = WebhookSink.forMesh(cm.mesh);
  await sink.start();
  await fund(cm.mesh, "wallet-a", 10_000_000n);
  await fund(cm.mesh, "acquirer-a", 1_000_000n);
  shop = await registerMerchant(cm, "shop-one", sink);
  other = await registerMerchant(cm, "shop-two", sink);
}, 60_000);

afterAll(async () => {
  await cm?.stop();
  await sink?.close();
});

const wallet = () => cm.commerce(cm.mesh.keys.get("wallet-a"));

async function createIntent(merchant: TestMerchant, amountMinor: bigint, captureMethod = CaptureMethod.AUTOMATIC) {
  return merchant.client.createPaymentIntent({
    paymentIntentId: nextId("pi"), merchantId: merchant.merchantId, amount: usd(amountMinor), merchantReference: "order-1",
    description: "a book", captureMethod, metadata: { order: "1" },
  });
}

async function payByWallet(paymentIntentId: string, amountMinor: bigint) {
  const transferId = nextId("tr");
  await prepareWalletTransfer(cm, transferId, amountMinor);
  const intent = await wallet().confirmPaymentIntent({ paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } });
  return { intent, transferId };
}

describe("merchants", () => {
  it("registers idempotently, and names the field of a conflicting repeat", async () => {
    const operator = cm.commerce(cm.mesh.keys.get("operator"));
    const key = createSigningKey("shop-idem", "shop-idem-1", generateSeed());
    const request = { merchantId: "shop-idem", name: "Shop", webhookUrl: sink.url("shop-idem"), keyId: key.keyId, publicKey: key.publicKey, acquirerId: "acquirer-a" };
    const first = await operator.registerMerchant(request);
    const again = await operator.registerMerchant(request);
    expect(again.createdAt).toEqual(first.createdAt);
    expect(again.acquirerId).toBe("acquirer-a");
    const conflict = await failureOf(operator.registerMerchant({ ...request, webhookUrl: "https://example.com/other" }));
    expect(conflict).toMatchObject({ code: GrpcCode.ALREADY_EXISTS, reason: "IDEMPOTENCY_CONFLICT", metadata: { field: "webhook_url" } });
  });

  it("refuses bad registrations with their reasons and registers nothing", async () => {
    const operator = cm.commerce(cm.mesh.keys.get("operator"));
    const key = createSigningKey("shop-bad", "shop-bad-1", generateSeed());
    const base = { merchantId: "shop-bad", name: "Bad", webhookUrl: "https://shop.example/hooks", keyId: key.keyId, publicKey: key.publicKey, acquirerId: "acquirer-a" };
    expect(await failureOf(operator.registerMerchant({ ...base, webhookUrl: "ftp://shop.example/hooks" }))).toMatchObject({ code: GrpcCode.INVALID_ARGUMENT, reason: "WEBHOOK_URL_INVALID", metadata: { field: "webhook_url" } });
    expect(await failureOf(operator.registerMerchant({ ...base, webhookUrl: "not a url" }))).toMatchObject({ reason: "WEBHOOK_URL_INVALID" });
    expect(await failureOf(operator.registerMerchant({ ...base, merchantId: "bank-a" }))).toMatchObject({ code: GrpcCode.ALREADY_EXISTS, reason: "MERCHANT_ID_TAKEN" });
    expect(await failureOf(operator.registerMerchant({ ...base, acquirerId: "bank-a" }))).toMatchObject({ reason: "ACQUIRER_NOT_HOSTED", metadata: { field: "acquirer_id" } });
    expect(await failureOf(operator.registerMerchant({ ...base, publicKey: new Uint8Array(31) }))).toMatchObject({ reason: "INVALID_ARGUMENT", metadata: { field: "public_key" } });
    // The identity point: any message would "verify" under it with OpenSSL alone.
    expect(await failureOf(operator.registerMerchant({ ...base, publicKey: Uint8Array.of(1, ...new Uint8Array(31)) }))).toMatchObject({ reason: "INVALID_ARGUMENT", metadata: { field: "public_key" } });
    expect(await failureOf(shop.client.registerMerchant(base))).toMatchObject({ code: GrpcCode.PERMISSION_DENIED, reason: "PERMISSION_DENIED" });
    // Nothing was registered: the merchant's key does not verify.
    const unknown = cm.commerce(key);
    expect(await failureOf(unknown.createPaymentIntent({ paymentIntentId: nextId("pi"), merchantId: "shop-bad", amount: usd(100n) }))).toMatchObject({ code: GrpcCode.UNAUTHENTICATED, reason: "UNKNOWN_KEY" });
  });
});

describe("wallet payments", () => {
  it("pays an intent with automatic capture: exact positions, signed webhooks, repeat-safe", async () => {
    const [walletBefore, acquirerBefore] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    const created = await createIntent(shop, 10_000n);
    expect(created.state).toBe(PaymentIntentState.REQUIRES_PAYMENT_METHOD);
    // The wallet reads the intent before paying it: amount and the acquirer to pay.
    const seen = await wallet().getPaymentIntent({ paymentIntentId: created.paymentIntentId });
    expect(seen.acquirerId).toBe("acquirer-a");
    const { intent, transferId } = await payByWallet(created.paymentIntentId, 10_000n);
    expect(intent.state).toBe(PaymentIntentState.SUCCEEDED);
    expect(intent.captured?.amountMinor).toBe(10_000n);
    expect(intent.transferId).toBe(transferId);
    expect(intent.paymentMethodType).toBe("wallet");
    const transfer = await cm.clearingAs("wallet-a").getTransfer({ transferId });
    expect(transfer.state).toBe(TransferState.COMMITTED);
    expect(transfer.fee?.amountMinor).toBe(100n);
    const [walletAfter, acquirerAfter] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    expect(walletAfter.position - walletBefore.position).toBe(10_000n);
    expect(acquirerAfter.position - acquirerBefore.position).toBe(-9_900n);
    // A repeated confirm has no second effect.
    const repeat = await wallet().confirmPaymentIntent({ paymentIntentId: created.paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } });
    expect(repeat.state).toBe(PaymentIntentState.SUCCEEDED);
    expect((await positionOf(cm.mesh, "wallet-a")).position).toBe(walletAfter.position);
    const events = await waitFor("processing and succeeded webhooks", () => {
      const types = sink.eventsOf("shop-one").filter((event) => event.paymentIntent?.paymentIntentId === created.paymentIntentId).map((event) => event.type);
      return types.length >= 2 ? types : undefined;
    });
    expect(events.sort()).toEqual(["payment_intent.processing", "payment_intent.succeeded"]);
    const succeeded = sink.eventsOf("shop-one").find((event) => event.type === "payment_intent.succeeded" && event.paymentIntent?.paymentIntentId === created.paymentIntentId)!;
    expect(succeeded.paymentIntent?.captured?.amountMinor).toBe(10_000n);
    expect(succeeded.paymentIntent?.metadata).toEqual({ order: "1" });
    expect(sink.badSignatures).toEqual([]);
  });

  it("holds a manual-capture payment and captures part of it; the rest is released", async () => {
    const [walletBefore, acquirerBefore] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    const created = await createIntent(shop, 8_000n, CaptureMethod.MANUAL);
    const { intent, transferId } = await payByWallet(created.paymentIntentId, 8_000n);
    expect(intent.state).toBe(PaymentIntentState.REQUIRES_CAPTURE);
    expect((await positionOf(cm.mesh, "wallet-a")).reserved - walletBefore.reserved).toBe(8_000n);
    const above = await failureOf(shop.client.capturePaymentIntent({ paymentIntentId: created.paymentIntentId, amount: usd(8_001n) }));
    expect(above).toMatchObject({ code: GrpcCode.FAILED_PRECONDITION, reason: "CAPTURE_ABOVE_AUTHORIZED" });
    const captured = await shop.client.capturePaymentIntent({ paymentIntentId: created.paymentIntentId, amount: usd(5_000n) });
    expect(captured.state).toBe(PaymentIntentState.SUCCEEDED);
    expect(captured.captured?.amountMinor).toBe(5_000n);
    const transfer = await cm.clearingAs("wallet-a").getTransfer({ transferId });
    expect(transfer.amount?.amountMinor).toBe(5_000n);
    expect(transfer.fee?.amountMinor).toBe(50n);
    const [walletAfter, acquirerAfter] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    expect(walletAfter.position - walletBefore.position).toBe(5_000n);
    expect(walletAfter.reserved).toBe(walletBefore.reserved);
    expect(acquirerAfter.position - acquirerBefore.position).toBe(-4_950n);
    // The same capture again answers the intent; nothing moves twice.
    const repeat = await shop.client.capturePaymentIntent({ paymentIntentId: created.paymentIntentId, amount: usd(5_000n) });
    expect(repeat.captured?.amountMinor).toBe(5_000n);
    expect((await positionOf(cm.mesh, "wallet-a")).position).toBe(walletAfter.position);
    await waitFor("requires_capture webhook", () => sink.eventsOf("shop-one").some((event) => event.type === "payment_intent.requires_capture" && event.paymentIntent?.paymentIntentId === created.paymentIntentId));
  });

  it("cancels an authorized payment and aborts its transfer at clearing", async () => {
    const walletBefore = await positionOf(cm.mesh, "wallet-a");
    const created = await createIntent(shop, 3_000n, CaptureMethod.MANUAL);
    const { transferId } = await payByWallet(created.paymentIntentId, 3_000n);
    const canceled = await shop.client.cancelPaymentIntent({ paymentIntentId: created.paymentIntentId, reason: "out of stock" });
    expect(canceled.state).toBe(PaymentIntentState.CANCELED);
    expect(canceled.failureReason).toBe("out of stock");
    expect((await cm.clearingAs("wallet-a").getTransfer({ transferId })).state).toBe(TransferState.ABORTED);
    expect(await positionOf(cm.mesh, "wallet-a")).toEqual(walletBefore);
  });
});

describe("refunds", () => {
  it("refunds part, then the rest, then refuses more; money goes back with the wallet user's reference", async () => {
    const created = await createIntent(shop, 10_000n);
    await payByWallet(created.paymentIntentId, 10_000n);
    const [walletBefore, acquirerBefore] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    const partialRequest = { refundId: nextId("rf"), paymentIntentId: created.paymentIntentId, amount: usd(4_000n), reason: "damaged" };
    const partial = await shop.client.refundPaymentIntent(partialRequest);
    expect(partial.state).toBe(RefundState.SUCCEEDED);
    const refundTransfer = await cm.clearingAs("wallet-a").getTransfer({ transferId: partial.transferId });
    expect(refundTransfer).toMatchObject({ payerId: "acquirer-a", payeeId: "wallet-a", payeeReference: "wallet-user-42", state: TransferState.COMMITTED });
    expect(await shop.client.refundPaymentIntent(partialRequest)).toEqual(partial);
    expect(await failureOf(shop.client.refundPaymentIntent({ ...partialRequest, amount: usd(3_000n) }))).toMatchObject({ reason: "IDEMPOTENCY_CONFLICT", metadata: { field: "amount.amount_minor" } });
    const rest = await shop.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: created.paymentIntentId });
    expect(rest.amount?.amountMinor).toBe(6_000n);
    expect(rest.state).toBe(RefundState.SUCCEEDED);
    const above = await failureOf(shop.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: created.paymentIntentId, amount: usd(1n) }));
    expect(above).toMatchObject({ code: GrpcCode.FAILED_PRECONDITION, reason: "REFUND_ABOVE_CAPTURED" });
    const intent = await shop.client.getPaymentIntent({ paymentIntentId: created.paymentIntentId });
    expect(intent.refunded?.amountMinor).toBe(10_000n);
    const [walletAfter, acquirerAfter] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    expect(walletAfter.position - walletBefore.position).toBe(-10_000n);
    expect(acquirerAfter.position - acquirerBefore.position).toBe(10_000n);
    const refundEvents = await waitFor("two refund webhooks", () => {
      const found = sink.eventsOf("shop-one").filter((event) => event.type === "refund.succeeded" && event.paymentIntent?.paymentIntentId === created.paymentIntentId);
      return found.length === 2 ? found : undefined;
    });
    expect(refundEvents.map((event) => event.refund?.amount?.amountMinor).sort()).toEqual([4_000n, 6_000n]);
  });

  it("fails a refund the acquirer's cap cannot cover, with the reason, and gives the amount back", async () => {
    const created = await createIntent(shop, 2_000_000n);
    await payByWallet(created.paymentIntentId, 2_000_000n);
    // With a cap of 1, acquirer-a may pay out at most 1 more than it holds from payments.
    await cm.mesh.operator.setNetDebitCap({ requestId: nextId("cap"), participantId: "acquirer-a", cap: usd(1n) });
    try {
      const position = await positionOf(cm.mesh, "acquirer-a");
      const refund = await shop.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: created.paymentIntentId, amount: usd(-position.position + 2n) });
      expect(refund.state).toBe(RefundState.FAILED);
      expect(refund.failureReason).toContain("LIQUIDITY_LIMIT_EXCEEDED");
      expect((await shop.client.getPaymentIntent({ paymentIntentId: created.paymentIntentId })).refunded?.amountMinor).toBe(0n);
      await waitFor("refund.failed webhook", () => sink.eventsOf("shop-one").some((event) => event.type === "refund.failed" && event.refund?.refundId === refund.refundId));
    } finally {
      await cm.mesh.operator.setNetDebitCap({ requestId: nextId("cap"), participantId: "acquirer-a", cap: usd(1_000_000n) });
    }
  });
});

describe("bad input changes nothing", () => {
  async function expectUntouched(paymentIntentId: string, transferId: string) {
    expect((await shop.client.getPaymentIntent({ paymentIntentId })).state).toBe(PaymentIntentState.REQUIRES_PAYMENT_METHOD);
    const transfer = await cm.clearingAs("wallet-a").getTransfer({ transferId });
    expect(transfer.state).not.toBe(TransferState.COMMITTED);
  }

  it("refuses a wallet transfer whose payee, amount or state does not match (TRANSFER_MISMATCH)", async () => {
    const created = await createIntent(shop, 1_500n);
    const confirm = (transferId: string) => wallet().confirmPaymentIntent({ paymentIntentId: created.paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } });
    const toBank = nextId("tr");
    await prepareWalletTransfer(cm, toBank, 1_500n, "bank-b");
    expect(await failureOf(confirm(toBank))).toMatchObject({ code: GrpcCode.FAILED_PRECONDITION, reason: "TRANSFER_MISMATCH", metadata: { field: "payee_id" } });
    await expectUntouched(created.paymentIntentId, toBank);
    const tooLittle = nextId("tr");
    await prepareWalletTransfer(cm, tooLittle, 1_499n);
    expect(await failureOf(confirm(tooLittle))).toMatchObject({ reason: "TRANSFER_MISMATCH", metadata: { field: "amount.amount_minor" } });
    await expectUntouched(created.paymentIntentId, tooLittle);
    const aborted = nextId("tr");
    await prepareWalletTransfer(cm, aborted, 1_500n);
    await cm.clearingAs("wallet-a").abortTransfer({ transferId: aborted, reason: "user left" });
    expect(await failureOf(confirm(aborted))).toMatchObject({ reason: "TRANSFER_MISMATCH", metadata: { field: "state" } });
    await expectUntouched(created.paymentIntentId, aborted);
    // Only the wallet provider that pays may confirm, signing as itself.
    const good = nextId("tr");
    await prepareWalletTransfer(cm, good, 1_500n);
    const asOther = cm.commerce(cm.mesh.keys.get("wallet-b")).confirmPaymentIntent({ paymentIntentId: created.paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId: good } } });
    expect(await failureOf(asOther)).toMatchObject({ code: GrpcCode.PERMISSION_DENIED, reason: "PERMISSION_DENIED" });
    await expectUntouched(created.paymentIntentId, good);
    expect(sink.eventsOf("shop-one").some((event) => event.paymentIntent?.paymentIntentId === created.paymentIntentId)).toBe(false);
  });

  it("answers unsigned and foreign-signed merchant calls with UNAUTHENTICATED", async () => {
    const request = { paymentIntentId: nextId("pi"), merchantId: "shop-one", amount: usd(100n) };
    expect(await failureOf(cm.commerce().createPaymentIntent(request))).toMatchObject({ code: GrpcCode.UNAUTHENTICATED, reason: "SIGNATURE_MISSING" });
    // Signed with another key under shop-one's key id: the signature does not verify.
    const forged = createSigningKey("shop-one", shop.key.keyId, generateSeed());
    expect(await failureOf(cm.commerce(forged).createPaymentIntent(request))).toMatchObject({ code: GrpcCode.UNAUTHENTICATED, reason: "BAD_SIGNATURE" });
    const unknownKey = createSigningKey("shop-one", "shop-one-9", generateSeed());
    expect(await failureOf(cm.commerce(unknownKey).createPaymentIntent(request))).toMatchObject({ code: GrpcCode.UNAUTHENTICATED, reason: "UNKNOWN_KEY" });
    expect(await failureOf(shop.client.getPaymentIntent({ paymentIntentId: request.paymentIntentId }))).toMatchObject({ reason: "INTENT_NOT_FOUND" });
  });

  it("keeps merchants apart: another merchant's intent does not exist for it", async () => {
    const created = await createIntent(shop, 700n);
    const id = created.paymentIntentId;
    // Each refusal is caught as its call starts: awaiting them one by one would leave the later
    // ones' rejections unhandled while the first is awaited.
    const failures = await Promise.all([
      other.client.getPaymentIntent({ paymentIntentId: id }),
      other.client.capturePaymentIntent({ paymentIntentId: id }),
      other.client.cancelPaymentIntent({ paymentIntentId: id }),
      other.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: id }),
      other.client.confirmPaymentIntent({ paymentIntentId: id, paymentMethod: { case: "card", value: { cardToken: "tok" } } }),
    ].map((call) => failureOf(call)));
    for (const failure of failures) expect(failure).toMatchObject({ code: GrpcCode.NOT_FOUND, reason: "INTENT_NOT_FOUND" });
    expect(await failureOf(other.client.createPaymentIntent({ paymentIntentId: nextId("pi"), merchantId: "shop-one", amount: usd(1n) }))).toMatchObject({ code: GrpcCode.PERMISSION_DENIED, metadata: { field: "merchant_id" } });
    expect(await failureOf(other.client.createPaymentIntent({ paymentIntentId: id, merchantId: "shop-two", amount: usd(700n) }))).toMatchObject({ reason: "IDEMPOTENCY_CONFLICT", metadata: { field: "merchant_id" } });
    expect((await shop.client.getPaymentIntent({ paymentIntentId: id })).state).toBe(PaymentIntentState.REQUIRES_PAYMENT_METHOD);
  });

  it("answers calls in the wrong state with INTENT_STATE_INVALID naming the current and allowed states", async () => {
    const created = await createIntent(shop, 900n);
    const capture = await failureOf(shop.client.capturePaymentIntent({ paymentIntentId: created.paymentIntentId }));
    expect(capture).toMatchObject({ code: GrpcCode.FAILED_PRECONDITION, reason: "INTENT_STATE_INVALID", metadata: { state: "REQUIRES_PAYMENT_METHOD", allowed: "REQUIRES_CAPTURE" } });
    expect(capture.message).toContain("REQUIRES_PAYMENT_METHOD");
    const refund = await failureOf(shop.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: created.paymentIntentId }));
    expect(refund).toMatchObject({ reason: "INTENT_STATE_INVALID", metadata: { state: "REQUIRES_PAYMENT_METHOD", allowed: "SUCCEEDED" } });
    await shop.client.cancelPaymentIntent({ paymentIntentId: created.paymentIntentId });
    const transferId = nextId("tr");
    await prepareWalletTransfer(cm, transferId, 900n);
    const confirm = await failureOf(wallet().confirmPaymentIntent({ paymentIntentId: created.paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } }));
    expect(confirm).toMatchObject({ reason: "INTENT_STATE_INVALID", metadata: { state: "CANCELED", allowed: "REQUIRES_PAYMENT_METHOD" } });
    expect((await cm.clearingAs("wallet-a").getTransfer({ transferId })).state).toBe(TransferState.RESERVED);
    // A canceled intent is invisible to wallets, and canceling again answers it as it is.
    expect((await shop.client.cancelPaymentIntent({ paymentIntentId: created.paymentIntentId })).state).toBe(PaymentIntentState.CANCELED);
    expect(await failureOf(wallet().getPaymentIntent({ paymentIntentId: created.paymentIntentId }))).toMatchObject({ reason: "INTENT_NOT_FOUND" });
  });

  it("validates intents: amount, currency, idempotent repeats", async () => {
    const base = { paymentIntentId: nextId("pi"), merchantId: "shop-one", amount: usd(1_000n), description: "x" };
    expect(await failureOf(shop.client.createPaymentIntent({ ...base, amount: usd(0n) }))).toMatchObject({ reason: "INVALID_ARGUMENT", metadata: { field: "amount.amount_minor" } });
    expect(await failureOf(shop.client.createPaymentIntent({ ...base, amount: { currency: "JPY", amountMinor: 5n } }))).toMatchObject({ reason: "CURRENCY_NOT_ENABLED" });
    expect(await failureOf(shop.client.createPaymentIntent({ ...base, description: "d".repeat(501) }))).toMatchObject({ metadata: { field: "description" } });
    const first = await shop.client.createPaymentIntent(base);
    expect(await shop.client.createPaymentIntent(base)).toEqual(first);
    expect(await failureOf(shop.client.createPaymentIntent({ ...base, amount: usd(1_001n) }))).toMatchObject({ reason: "IDEMPOTENCY_CONFLICT", metadata: { field: "amount.amount_minor" } });
  });

  it("lists a merchant's intents newest first, paged", async () => {
    const ids = [];
    for (let index = 0; index < 3; index += 1) ids.push((await createIntent(other, 100n + BigInt(index))).paymentIntentId);
    const first = await other.client.listPaymentIntents({ merchantId: "shop-two", page: { pageSize: 2 } });
    expect(first.paymentIntents.map((intent) => intent.paymentIntentId)).toEqual([ids[2], ids[1]]);
    const second = await other.client.listPaymentIntents({ merchantId: "shop-two", page: { pageSize: 2, pageToken: first.page!.nextPageToken } });
    expect(second.paymentIntents[0]?.paymentIntentId).toBe(ids[0]);
    expect(await failureOf(other.client.listPaymentIntents({ merchantId: "shop-one" }))).toMatchObject({ reason: "PERMISSION_DENIED" });
  });
});

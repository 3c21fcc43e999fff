// Card payments through the bank-adapter: a card tokenized by bank-a, confirmed by the merchant,
// authorized (a hold and a clearing transfer prepared by the bank), captured in full or in part
// (the acquirer commits at clearing, the bank books the capture), refunded and canceled; every
// amount reconciled on the customer account and at clearing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BankAdapterService, CaptureMethod, PaymentIntentState, RefundState, TransferState } from "@clearmesh/contracts";
import { clientFor } from "../../../test/support/mesh.js";
import { GrpcCode, WebhookSink, failureOf, fund, positionOf, registerMerchant, startCommerceMesh, waitFor, type CommerceMesh, type TestMerchant } from "./support.js";

let cm: CommerceMesh;
let sink: WebhookSink;
let shop: TestMerchant;
let bank: ReturnType<typeof clientFor<typeof BankAdapterService>>;
let accountId: string;
let cardToken: string;
let counter = 0;
const nextId = (prefix: string) => `${prefix}-${Date.now()}-${(counter += 1)}`;
const usd = (amountMinor: bigint) => ({ currency: "USD", amountMinor });

beforeAll(async () => {
  // The bank-adapter authorizes for AUTHORIZATION_TTL_MS; clearing must accept a prepared transfer that long.
  cm = await startCommerceMesh({ WEBHOOK_POLL_MS: "50", SWEEP_INTERVAL_MS: "200", AUTHORIZATION_TTL_MS: "1800000" });
  sink = WebhookSink.forMesh(cm.mesh);
  await sink.start();
  await fund(cm.mesh, "bank-a", 1_000_000n);
  await fund(cm.mesh, "acquirer-a", 1_000_000n);
  shop = await registerMerchant(cm, "shop-cards", sink);
  bank = clientFor(cm.mesh, "bank-adapter", BankAdapterService, cm.mesh.keys.get("bank-a")!);
  const account = await bank.openAccount({ requestId: nextId("acct"), bankId: "bank-a", holderName: "Ada Buyer", currency: "USD", holderEmail: "ada@example.com", holderPhone: "+15551234567" });
  accountId = account.accountId;
  await bank.depositCash({ requestId: nextId("cash"), accountId, amount: usd(100_000n) });
  const card = await bank.tokenizeCard({ requestId: nextId("card"), accountId, pan: "4242424242424242", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 2, cardholderName: "ADA BUYER" });
  cardToken = card.cardToken;
}, 60_000);

afterAll(async () => {
  bank?.close();
  await cm?.stop();
  await sink?.close();
});

async function createIntent(amountMinor: bigint, captureMethod = CaptureMethod.AUTOMATIC) {
  return shop.client.createPaymentIntent({ paymentIntentId: nextId("pi"), merchantId: "shop-cards", amount: usd(amountMinor), captureMethod });
}

const confirmCard = (paymentIntentId: string, token = cardToken) =>
  shop.client.confirmPaymentIntent({ paymentIntentId, paymentMethod: { case: "card", value: { cardToken: token } } });

async function account() {
  const found = await bank.getAccount({ accountId });
  return { balance: found.balance!.amountMinor, held: found.held!.amountMinor };
}

describe("card payments", () => {
  it("pays by card with automatic capture", async () => {
    const [accountBefore, bankBefore, acquirerBefore] = [await account(), await positionOf(cm.mesh, "bank-a"), await positionOf(cm.mesh, "acquirer-a")];
    const created = await createIntent(5_000n);
    const paid = await confirmCard(created.paymentIntentId);
    expect(paid).toMatchObject({ state: PaymentIntentState.SUCCEEDED, paymentMethodType: "card", paymentMethodDetail: "**** 4242", captured: { amountMinor: 5_000n } });
    expect(await account()).toEqual({ balance: accountBefore.balance - 5_000n, held: accountBefore.held });
    expect((await positionOf(cm.mesh, "bank-a")).position - bankBefore.position).toBe(5_000n);
    expect((await positionOf(cm.mesh, "acquirer-a")).position - acquirerBefore.position).toBe(-5_000n);
    expect(await confirmCard(created.paymentIntentId)).toMatchObject({ state: PaymentIntentState.SUCCEEDED });
    await waitFor("succeeded webhook", () => sink.eventsOf("shop-cards").some((event) => event.type === "payment_intent.succeeded" && event.paymentIntent?.paymentIntentId === created.paymentIntentId));
  });

  it("authorizes, captures part, refunds part; the customer account reconciles", async () => {
    const before = await account();
    const created = await createIntent(4_000n, CaptureMethod.MANUAL);
    const authorized = await confirmCard(created.paymentIntentId);
    expect(authorized.state).toBe(PaymentIntentState.REQUIRES_CAPTURE);
    expect(await account()).toEqual({ balance: before.balance, held: before.held + 4_000n });
    const captured = await shop.client.capturePaymentIntent({ paymentIntentId: created.paymentIntentId, amount: usd(2_500n) });
    expect(captured).toMatchObject({ state: PaymentIntentState.SUCCEEDED, captured: { amountMinor: 2_500n } });
    expect(await account()).toEqual({ balance: before.balance - 2_500n, held: before.held });
    const refund = await shop.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: created.paymentIntentId, amount: usd(1_000n) });
    expect(refund.state).toBe(RefundState.SUCCEEDED);
    const transfer = await cm.clearingAs("bank-a").getTransfer({ transferId: refund.transferId });
    expect(transfer).toMatchObject({ payerId: "acquirer-a", payeeId: "bank-a", payeeReference: captured.transferId, state: TransferState.COMMITTED });
    expect(await account()).toEqual({ balance: before.balance - 1_500n, held: before.held });
    expect(await failureOf(shop.client.refundPaymentIntent({ refundId: nextId("rf"), paymentIntentId: created.paymentIntentId, amount: usd(1_501n) }))).toMatchObject({ reason: "REFUND_ABOVE_CAPTURED" });
  });

  it("voids an authorization when the intent is canceled", async () => {
    const before = await account();
    const created = await createIntent(3_000n, CaptureMethod.MANUAL);
    const authorized = await confirmCard(created.paymentIntentId);
    const canceled = await shop.client.cancelPaymentIntent({ paymentIntentId: created.paymentIntentId });
    expect(canceled.state).toBe(PaymentIntentState.CANCELED);
    expect(await account()).toEqual(before);
    expect((await cm.clearingAs("bank-a").getTransfer({ transferId: authorized.transferId })).state).toBe(TransferState.ABORTED);
  });

  it("answers a card the bank declines with CARD_DECLINED and leaves the intent payable", async () => {
    const created = await createIntent(1_000n);
    const declined = await failureOf(confirmCard(created.paymentIntentId, "tok_unknown_000000000000"));
    expect(declined).toMatchObject({ code: GrpcCode.FAILED_PRECONDITION, reason: "CARD_DECLINED" });
    expect(declined.metadata.bank_reason).toBeTruthy();
    const intent = await shop.client.getPaymentIntent({ paymentIntentId: created.paymentIntentId });
    expect(intent).toMatchObject({ state: PaymentIntentState.REQUIRES_PAYMENT_METHOD, transferId: "" });
    expect((await confirmCard(created.paymentIntentId)).state).toBe(PaymentIntentState.SUCCEEDED);
  });

  it("finishes a card capture a stopped connector committed at clearing but never booked at the bank", async () => {
    const before = await account();
    const created = await createIntent(2_000n, CaptureMethod.MANUAL);
    const authorized = await confirmCard(created.paymentIntentId);
    // The connector committed as the acquirer and stopped before CaptureAuthorization.
    await cm.clearingAs("acquirer-a").commitTransfer({ transferId: authorized.transferId, amount: usd(1_200n) });
    const { changes } = await cm.connector().store.execute(
      "UPDATE payment_intents SET state = $2, step = 'capture', capture_minor = 1200, touched_at_ms = 0 WHERE payment_intent_id = $1",
      [created.paymentIntentId, PaymentIntentState.PROCESSING],
    );
    expect(changes).toBe(1);
    await cm.restartConnector({ SWEEP_INTERVAL_MS: "200" });
    const merchant = cm.commerce(shop.key);
    const settled = await waitFor("the sweeper to finish the capture", async () => {
      const intent = await merchant.getPaymentIntent({ paymentIntentId: created.paymentIntentId });
      return intent.state === PaymentIntentState.PROCESSING ? undefined : intent;
    });
    expect(settled).toMatchObject({ state: PaymentIntentState.SUCCEEDED, captured: { amountMinor: 1_200n } });
    // The bank booked the capture: 1 200 debited, the rest of the hold released.
    expect(await account()).toEqual({ balance: before.balance - 1_200n, held: before.held });
  });
});

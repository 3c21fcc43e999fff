// Bank-and-connector issue acceptance: one merchant is paid by wallet and by card, captures
// (the card in part), refunds both in part; a local HTTP sink receives every webhook and
// verifies it with the connector's public key; and every amount reconciles — the customer's
// bank account, the acquirer's, the wallet provider's and the bank's clearing positions, and
// the hub's fees (1 % on wallet payments).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BankAdapterService, CaptureMethod, PaymentIntentState, RefundState } from "@clearmesh/contracts";
import { clientFor } from "../support/mesh.js";
import {
  WebhookSink, fund, positionOf, prepareWalletTransfer, registerMerchant, startCommerceMesh, waitFor, type CommerceMesh, type TestMerchant,
} from "../../services/e-commerce-connector/test/support.js";

const usd = (amountMinor: bigint) => ({ currency: "USD", amountMinor });

describe("paying a merchant by wallet and by card", () => {
  let cm: CommerceMesh;
  let sink: WebhookSink;
  let shop: TestMerchant;

  beforeAll(async () => {
    cm = await startCommerceMesh({ WEBHOOK_POLL_MS: "50" });
    sink = WebhookSink.forMesh(cm.mesh);
    await sink.start();
    for (const participantId of ["wallet-a", "bank-a", "acquirer-a"]) await fund(cm.mesh, participantId, 1_000_000n);
    shop = await registerMerchant(cm, "shop-mesh", sink);
  }, 60_000);

  afterAll(async () => {
    await cm?.stop();
    await sink?.close();
  });

  it("pays, captures, refunds in part, signs every webhook, and reconciles to the minor unit", async () => {
    const bank = clientFor(cm.mesh, "bank-adapter", BankAdapterService, cm.mesh.keys.get("bank-a")!);
    const account = await bank.openAccount({ requestId: "mesh-acct-1", bankId: "bank-a", holderName: "Ada Buyer", currency: "USD", holderEmail: "ada@example.com", holderPhone: "+15551234567" });
    await bank.depositCash({ requestId: "mesh-cash-1", accountId: account.accountId, amount: usd(100_000n) });
    const card = await bank.tokenizeCard({ requestId: "mesh-card-1", accountId: account.accountId, pan: "4242424242424242", expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 2, cardholderName: "ADA BUYER" });
    const before = Object.fromEntries(await Promise.all(["wallet-a", "bank-a", "acquirer-a", "operator"].map(async (id) => [id, (await positionOf(cm.mesh, id)).position] as const)));

    // Wallet: the provider prepares a transfer to the acquirer; the connector commits it as the payee.
    const walletIntent = await shop.client.createPaymentIntent({ paymentIntentId: "mesh-pi-wallet", merchantId: "shop-mesh", amount: usd(10_000n) });
    await prepareWalletTransfer(cm, "mesh-tr-wallet", 10_000n);
    const walletPaid = await cm.commerce(cm.mesh.keys.get("wallet-a")).confirmPaymentIntent({
      paymentIntentId: walletIntent.paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId: "mesh-tr-wallet" } },
    });
    expect(walletPaid.state).toBe(PaymentIntentState.SUCCEEDED);

    // Card: authorized for 8 000, captured for 5 000 (the rest of the hold released).
    const cardIntent = await shop.client.createPaymentIntent({ paymentIntentId: "mesh-pi-card", merchantId: "shop-mesh", amount: usd(8_000n), captureMethod: CaptureMethod.MANUAL });
    const authorized = await shop.client.confirmPaymentIntent({ paymentIntentId: cardIntent.paymentIntentId, paymentMethod: { case: "card", value: { cardToken: card.cardToken } } });
    expect(authorized.state).toBe(PaymentIntentState.REQUIRES_CAPTURE);
    const captured = await shop.client.capturePaymentIntent({ paymentIntentId: cardIntent.paymentIntentId, amount: usd(5_000n) });
    expect(captured).toMatchObject({ state: PaymentIntentState.SUCCEEDED, captured: { amountMinor: 5_000n } });

    // Partial refunds of both.
    const walletRefund = await shop.client.refundPaymentIntent({ refundId: "mesh-rf-wallet", paymentIntentId: walletIntent.paymentIntentId, amount: usd(4_000n) });
    const cardRefund = await shop.client.refundPaymentIntent({ refundId: "mesh-rf-card", paymentIntentId: cardIntent.paymentIntentId, amount: usd(1_500n) });
    expect([walletRefund.state, cardRefund.state]).toEqual([RefundState.SUCCEEDED, RefundState.SUCCEEDED]);

    // The customer's account: 100 000 − 5 000 captured + 1 500 refunded, nothing left on hold.
    const finalAccount = await bank.getAccount({ accountId: account.accountId });
    expect([finalAccount.balance?.amountMinor, finalAccount.held?.amountMinor]).toEqual([96_500n, 0n]);

    // Clearing: wallet-a +10 000 − 4 000; bank-a +5 000 − 1 500; acquirer-a −9 900 − 5 000 + 4 000 + 1 500; the hub's fee −100.
    const after = Object.fromEntries(await Promise.all(["wallet-a", "bank-a", "acquirer-a", "operator"].map(async (id) => [id, (await positionOf(cm.mesh, id)).position] as const)));
    const moved = Object.fromEntries(Object.keys(after).map((id) => [id, after[id]! - before[id]!]));
    expect(moved).toEqual({ "wallet-a": 6_000n, "bank-a": 3_500n, "acquirer-a": -9_400n, operator: -100n });
    expect(Object.values(moved).reduce((sum, value) => sum + value, 0n)).toBe(0n);

    // Webhooks: every state change and refund arrived, each verified with the connector's key.
    const expected = ["payment_intent.processing", "payment_intent.succeeded", "payment_intent.requires_capture", "refund.succeeded"];
    const types = await waitFor("the webhooks", () => {
      const received = sink.eventsOf("shop-mesh").map((event) => event.type);
      return expected.every((type) => received.includes(type)) && received.filter((type) => type === "refund.succeeded").length === 2 ? received : undefined;
    });
    expect(sink.badSignatures).toEqual([]);
    expect(types.filter((type) => type === "payment_intent.succeeded").length).toBe(2);
    bank.close();
  }, 90_000);
});

// Two connector instances on one PostgreSQL database: a merchant registered through one signs
// to the other, a payment confirmed on one is refunded on the other, and with both webhook
// dispatchers running every webhook still reaches the merchant exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommerceService, PaymentIntentState, RefundState } from "@clearmesh/contracts";
import { createLogger, createSignedClient, loadSettings, type RunningService } from "@clearmesh/runtime";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { commerceConnectorSettingsSchema, startCommerceConnector } from "../src/index.js";
import { WebhookSink, fund, prepareWalletTransfer, registerMerchant, startCommerceMesh, waitFor, type CommerceMesh, type TestMerchant } from "./support.js";

const MERCHANT_REFRESH_MS = 200;
let database: TestDatabase;
let cm: CommerceMesh;
let second: RunningService;
let sink: WebhookSink;
let shop: TestMerchant;

beforeAll(async () => {
  database = await createTestDatabase();
  const environment = { STORE_URL: database.url, MERCHANT_REFRESH_MS: String(MERCHANT_REFRESH_MS), WEBHOOK_POLL_MS: "20" };
  cm = await startCommerceMesh({ WEBHOOK_POLL_MS: "20" });
  await cm.restartConnector(environment);
  second = await startCommerceConnector(loadSettings(commerceConnectorSettingsSchema(), {
    ...cm.mesh.environment, ...environment,
    CLEARING_ADDRESS: `127.0.0.1:${cm.mesh.services.clearing.grpcPort}`, BANK_ADAPTER_ADDRESS: `127.0.0.1:${cm.mesh.services["bank-adapter"].grpcPort}`,
  }), { logger: createLogger({ service: "e-commerce-connector-2", level: "silent" }) });
  await second.ready;
  sink = WebhookSink.forMesh(cm.mesh);
  await sink.start();
  await fund(cm.mesh, "wallet-a", 1_000_000n);
  await fund(cm.mesh, "acquirer-a", 1_000_000n);
  shop = await registerMerchant(cm, "shop-shared", sink);
}, 60_000);

afterAll(async () => {
  await second?.stop();
  await cm?.stop();
  await sink?.close();
  await database?.drop();
});

describe("two connector instances on one PostgreSQL", () => {
  it("share merchants, intents, refunds and webhooks", async () => {
    const onSecond = createSignedClient(CommerceService, {
      address: `127.0.0.1:${second.grpcPort}`, signer: shop.key, expectedResponder: "e-commerce-connector", responseKeys: second.directory.lookupKey,
    });
    try {
      const paymentIntentId = `pi-shared-${Date.now()}`;
      // Registered through the first instance; the second learns the key within MERCHANT_REFRESH_MS.
      const created = await waitFor("the second instance to know the merchant", async () => {
        try {
          return await onSecond.createPaymentIntent({ paymentIntentId, merchantId: "shop-shared", amount: { currency: "USD", amountMinor: 7_000n } });
        } catch {
          return undefined;
        }
      }, 5_000, MERCHANT_REFRESH_MS / 2);
      expect(created.state).toBe(PaymentIntentState.REQUIRES_PAYMENT_METHOD);
      const transferId = `tr-shared-${Date.now()}`;
      await prepareWalletTransfer(cm, transferId, 7_000n);
      const paid = await cm.commerce(cm.mesh.keys.get("wallet-a")).confirmPaymentIntent({ paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } });
      expect(paid.state).toBe(PaymentIntentState.SUCCEEDED);
      const refund = await onSecond.refundPaymentIntent({ refundId: `rf-shared-${Date.now()}`, paymentIntentId, amount: { currency: "USD", amountMinor: 2_000n } });
      expect(refund.state).toBe(RefundState.SUCCEEDED);
      expect((await shop.client.getPaymentIntent({ paymentIntentId })).refunded?.amountMinor).toBe(2_000n);
      const events = await waitFor("three webhooks", () => {
        const found = sink.eventsOf("shop-shared");
        return found.length === 3 ? found : undefined;
      });
      expect(events.map((event) => event.type).sort()).toEqual(["payment_intent.processing", "payment_intent.succeeded", "refund.succeeded"]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const event of events) expect(sink.successes.get(event.id)).toBe(1);
      expect(sink.requests.filter((request) => request.merchantId === "shop-shared")).toHaveLength(3);
    } finally {
      onSecond.close();
    }
  });
});

// Signed merchant webhooks over a real mesh: at least once with backoff, exactly one success per
// event seen by a deduping receiver, every attempt in the delivery log, dead letters and manual
// retry, and a merchant whose endpoint hangs never delaying another merchant's webhooks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhookDeliveryState, type WebhookDelivery } from "@clearmesh/contracts";
import { WebhookSink, failureOf, fund, prepareWalletTransfer, registerMerchant, startCommerceMesh, waitFor, type CommerceMesh, type TestMerchant } from "./support.js";

const WEBHOOK_TIMEOUT_MS = 1_500;
let cm: CommerceMesh;
let sink: WebhookSink;
let counter = 0;
const nextId = (prefix: string) => `${prefix}-${Date.now()}-${(counter += 1)}`;

beforeAll(async () => {
  cm = await startCommerceMesh({
    WEBHOOK_BACKOFF_MS: "100,200,300,400", WEBHOOK_MAX_ATTEMPTS: "5", WEBHOOK_TIMEOUT_MS: String(WEBHOOK_TIMEOUT_MS), WEBHOOK_POLL_MS: "50",
  });
  sink = WebhookSink.forMesh(cm.mesh);
  await sink.start();
  await fund(cm.mesh, "wallet-a", 1_000_000n);
}, 60_000);

afterAll(async () => {
  await cm?.stop();
  await sink?.close();
});

/** One webhook: an intent created and canceled (REQUIRES_PAYMENT_METHOD → CANCELED). */
async function cancelEvent(merchant: TestMerchant): Promise<string> {
  const paymentIntentId = nextId("pi");
  await merchant.client.createPaymentIntent({ paymentIntentId, merchantId: merchant.merchantId, amount: { currency: "USD", amountMinor: 500n } });
  await merchant.client.cancelPaymentIntent({ paymentIntentId });
  return paymentIntentId;
}

async function deliveriesOf(merchant: TestMerchant, state = WebhookDeliveryState.UNSPECIFIED): Promise<WebhookDelivery[]> {
  return (await merchant.client.listWebhookDeliveries({ merchantId: merchant.merchantId, state, page: { pageSize: 100 } })).deliveries;
}

describe("webhook delivery", () => {
  it("retries an endpoint that fails three times: one success per event, four attempts logged", async () => {
    const flaky = await registerMerchant(cm, "shop-flaky", sink);
    sink.behave("shop-flaky", (attempt) => (attempt <= 3 ? 500 : 200));
    const paymentIntentId = nextId("pi");
    await flaky.client.createPaymentIntent({ paymentIntentId, merchantId: "shop-flaky", amount: { currency: "USD", amountMinor: 2_500n } });
    const transferId = nextId("tr");
    await prepareWalletTransfer(cm, transferId, 2_500n);
    await cm.commerce(cm.mesh.keys.get("wallet-a")).confirmPaymentIntent({ paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } });
    await cancelEvent(flaky);
    const delivered = await waitFor("three delivered webhooks", async () => {
      const deliveries = await deliveriesOf(flaky, WebhookDeliveryState.DELIVERED);
      return deliveries.length === 3 ? deliveries : undefined;
    });
    expect(delivered.map((delivery) => delivery.type).sort()).toEqual(["payment_intent.canceled", "payment_intent.processing", "payment_intent.succeeded"]);
    for (const delivery of delivered) {
      expect(delivery.attempts.map((attempt) => attempt.httpStatus)).toEqual([500, 500, 500, 200]);
      expect(delivery.attempts.map((attempt) => attempt.error)).toEqual(["HTTP 500", "HTTP 500", "HTTP 500", ""]);
      expect(delivery.nextAttemptAt).toBeUndefined();
    }
    // Nothing more arrives later: exactly one successful delivery per event.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const delivery of delivered) {
      expect(sink.successes.get(delivery.webhookId)).toBe(1);
      expect(sink.requests.filter((request) => request.webhookId === delivery.webhookId)).toHaveLength(4);
    }
    expect(sink.eventsOf("shop-flaky")).toHaveLength(3);
    expect(sink.badSignatures).toEqual([]);
  });

  it("does not let a merchant whose endpoint hangs delay another merchant", async () => {
    const slow = await registerMerchant(cm, "shop-slow", sink);
    const fast = await registerMerchant(cm, "shop-fast", sink);
    sink.behave("shop-slow", () => "hang");
    for (let index = 0; index < 3; index += 1) await cancelEvent(slow);
    await waitFor("the slow merchant's endpoint holding a request", () => sink.requests.some((request) => request.merchantId === "shop-slow"));
    const startedAtMs = Date.now();
    const paymentIntentId = await cancelEvent(fast);
    const received = await waitFor("the fast merchant's webhook", () =>
      [...sink.events.values()].find((entry) => entry.merchantId === "shop-fast" && entry.event.paymentIntent?.paymentIntentId === paymentIntentId));
    // Delivered while the slow merchant's attempt still hangs, far inside its timeout.
    expect(received.receivedAtMs - startedAtMs).toBeLessThan(WEBHOOK_TIMEOUT_MS / 2);
    // The slow merchant's attempts time out and are logged as such.
    const timedOut = await waitFor("a logged timeout", async () => (await deliveriesOf(slow)).find((delivery) => delivery.attempts.length > 0));
    expect(timedOut.attempts[0]).toMatchObject({ httpStatus: 0, error: `timeout after ${WEBHOOK_TIMEOUT_MS} ms` });
    expect(Number(timedOut.attempts[0]!.durationMs)).toBeGreaterThanOrEqual(WEBHOOK_TIMEOUT_MS - 50);
    sink.behave("shop-slow", () => 200);
  });

  it("dead-letters after WEBHOOK_MAX_ATTEMPTS and sends again on RetryWebhook", async () => {
    const down = await registerMerchant(cm, "shop-down", sink);
    const stranger = await registerMerchant(cm, "shop-stranger", sink);
    sink.behave("shop-down", () => 503);
    await cancelEvent(down);
    const [dead] = await waitFor("a dead letter", async () => {
      const deliveries = await deliveriesOf(down, WebhookDeliveryState.DEAD_LETTERED);
      return deliveries.length === 1 ? deliveries : undefined;
    });
    expect(dead!.attempts).toHaveLength(5);
    expect(dead!.attempts.every((attempt) => attempt.httpStatus === 503)).toBe(true);
    // Dead letters are not retried by themselves.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await deliveriesOf(down))[0]!.attempts).toHaveLength(5);
    expect(await failureOf(stranger.client.retryWebhook({ webhookId: dead!.webhookId }))).toMatchObject({ reason: "WEBHOOK_NOT_FOUND" });
    sink.behave("shop-down", () => 200);
    const retried = await down.client.retryWebhook({ webhookId: dead!.webhookId });
    expect(retried.state).not.toBe(WebhookDeliveryState.DEAD_LETTERED);
    const delivered = await waitFor("the retried webhook delivered", async () => (await deliveriesOf(down, WebhookDeliveryState.DELIVERED))[0]);
    expect(delivered.attempts).toHaveLength(6);
    expect(sink.successes.get(dead!.webhookId)).toBe(1);
    // The operator sees every merchant's deliveries; a merchant only its own.
    const operatorView = await cm.commerce(cm.mesh.keys.get("operator")).listWebhookDeliveries({ page: { pageSize: 500 } });
    expect(new Set(operatorView.deliveries.map((delivery) => delivery.merchantId))).toContain("shop-down");
    expect(await failureOf(stranger.client.listWebhookDeliveries({ merchantId: "shop-down" }))).toMatchObject({ reason: "PERMISSION_DENIED" });
  });
});

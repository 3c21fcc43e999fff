// Several connector instances on one store: two connections race on the same intents, and the
// conditional updates let exactly one win each state change and never over-refund, on SQLite
// and on PostgreSQL.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaptureMethod, PaymentIntentState, WebhookDeliveryState } from "@clearmesh/contracts";
import { createTestDatabase, openStore, type Store, type TestDatabase } from "@clearmesh/store";
import type { IntentRecord } from "../src/intents/model.js";
import { findIntent, insertIntent, reserveRefund, transitionIntent } from "../src/intents/repository.js";
import { commerceMigrations } from "../src/migrations.js";
import { claimDelivery, claimNextDue, enqueueWebhook } from "../src/webhooks/repository.js";
import { intentMessage } from "../src/intents/model.js";

const engines = [
  { name: "SQLite", url: async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "commerce-repo-"));
    return { url: `sqlite:${path.join(dir, "connector.db")}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
  } },
  { name: "PostgreSQL", url: async (): Promise<Pick<TestDatabase, "url" | "drop">> => createTestDatabase() },
];

function intent(paymentIntentId: string): IntentRecord {
  return {
    paymentIntentId, merchantId: "shop-one", acquirerId: "acquirer-a", currency: "USD", amountMinor: 10_000n, state: PaymentIntentState.REQUIRES_PAYMENT_METHOD,
    captureMethod: CaptureMethod.AUTOMATIC, merchantReference: "", description: "", metadata: {}, paymentMethodType: "", paymentMethodDetail: "",
    paymentMethodKey: "", payerId: "", payerReference: "", transferId: "", capturedMinor: 0n, refundedMinor: 0n, captureMinor: 0n, step: "",
    failureReason: "", followup: "", followupAttempts: 0, createdAtMs: 1, updatedAtMs: 1, touchedAtMs: 1,
  };
}

describe.each(engines)("intent repository on $name", ({ url }) => {
  let database: Pick<TestDatabase, "url" | "drop">;
  let first: Store;
  let second: Store;

  beforeAll(async () => {
    database = await url();
    first = await openStore({ url: database.url });
    await first.migrate(commerceMigrations);
    second = await openStore({ url: database.url });
  }, 30_000);

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await database?.drop();
  });

  it("lets exactly one of racing confirms move an intent to PROCESSING", async () => {
    expect(await insertIntent(first, intent("pi-race"))).toBe(true);
    expect(await insertIntent(second, intent("pi-race"))).toBe(false);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) =>
      transitionIntent(index % 2 === 0 ? first : second, "pi-race", PaymentIntentState.REQUIRES_PAYMENT_METHOD, PaymentIntentState.PROCESSING, { transferId: `t-${index}` }, 2)));
    const winners = results.filter((result) => result !== undefined);
    expect(winners).toHaveLength(1);
    expect((await findIntent(first, "pi-race"))?.transferId).toBe(winners[0]!.transferId);
  });

  it("never reserves more refunds than were captured, whoever asks", async () => {
    await insertIntent(first, intent("pi-refund"));
    await first.execute("UPDATE payment_intents SET state = $2, captured_minor = 10000 WHERE payment_intent_id = $1", ["pi-refund", PaymentIntentState.SUCCEEDED]);
    const results = await Promise.all(Array.from({ length: 10 }, (_, index) =>
      (index % 2 === 0 ? first : second).transaction((tx) => reserveRefund(tx, "pi-refund", PaymentIntentState.SUCCEEDED, 3_000n))));
    expect(results.filter(Boolean)).toHaveLength(3);
    expect((await findIntent(second, "pi-refund"))?.refundedMinor).toBe(9_000n);
  });

  it("leases a webhook delivery to one instance at a time", async () => {
    const record = (await findIntent(first, "pi-race"))!;
    await first.transaction((tx) => enqueueWebhook(tx, { webhookId: "wh-1", merchantId: "shop-one", type: "payment_intent.processing", paymentIntent: intentMessage(record), nowMs: 10 }));
    const claims = await Promise.all([claimDelivery(first, "wh-1", "a", 20, 10_000), claimDelivery(second, "wh-1", "b", 20, 10_000)]);
    expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
    expect(claims.find((claim) => claim !== undefined)?.state).toBe(WebhookDeliveryState.PENDING);
    // After the lease lapses another instance may take it.
    expect(await claimDelivery(second, "wh-1", "b", 10_001, 20_000)).toBeDefined();
  });

  it("writes a webhook leased to its writer, and hands each merchant's oldest due webhook to one instance", async () => {
    const record = (await findIntent(first, "pi-race"))!;
    const webhook = (webhookId: string, merchantId: string, nowMs: number) => ({ webhookId, merchantId, type: "payment_intent.succeeded", paymentIntent: intentMessage(record), nowMs });
    // Written leased: nobody else may claim it until the lease lapses.
    const leased = await first.transaction((tx) => enqueueWebhook(tx, webhook("wh-leased", "shop-next", 100), { owner: "a", untilMs: 5_000 }));
    expect(leased).toMatchObject({ webhookId: "wh-leased", roundAttempts: 0, nextAttemptAtMs: 100, state: WebhookDeliveryState.PENDING });
    expect(await claimDelivery(second, "wh-leased", "b", 200, 10_000)).toBeUndefined();
    await first.transaction(async (tx) => {
      await enqueueWebhook(tx, webhook("wh-newer", "shop-next", 300));
      await enqueueWebhook(tx, webhook("wh-older", "shop-next", 200));
      await enqueueWebhook(tx, webhook("wh-other", "shop-else", 100));
    });
    // Oldest due first, and never one webhook to two racing instances (the loser of a race on
    // one row gets the next, or nothing).
    const claims = (await Promise.all([claimNextDue(first, "shop-next", "a", 400, 10_000), claimNextDue(second, "shop-next", "b", 400, 10_000)]))
      .filter((claim) => claim !== undefined).map((claim) => claim!.webhookId);
    expect(claims[0] === "wh-older" || claims[1] === "wh-older").toBe(true);
    expect(new Set(claims).size).toBe(claims.length);
    if (claims.length === 1) expect((await claimNextDue(second, "shop-next", "b", 400, 10_000))?.webhookId).toBe("wh-newer");
    // Nothing due yet, and nothing left unleased.
    expect(await claimNextDue(second, "shop-else", "b", 50, 10_000)).toBeUndefined();
    expect(await claimNextDue(second, "shop-next", "b", 400, 10_000)).toBeUndefined();
    // The writer's lease lapses like any other.
    expect((await claimNextDue(second, "shop-next", "b", 5_001, 20_000))?.webhookId).toBe("wh-leased");
  });
});

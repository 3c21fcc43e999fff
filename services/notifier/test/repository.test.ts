// The notifier's SQL on both engines: claims are exclusive, outcomes need the claim, the rate
// limit slides over the hour, and housekeeping keeps the tables bounded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, openStore, type Store, type TestDatabase } from "@clearmesh/store";
import { purgeExpired } from "../src/housekeeping.js";
import { notifierMigrations } from "../src/migrations.js";
import {
  RATE_WINDOW_MS, claimDelivery, dueDeliveries, findDelivery, insertDelivery, insertNotification, markFailed, releaseSendSlot, reserveSendSlot,
} from "../src/repository.js";

const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

const HOUR = RATE_WINDOW_MS;
const T0 = 1_800_000_000_000;

describe.each(engines)("notifier store on $name", ({ database }) => {
  let store: Store;
  let testDatabase: TestDatabase | undefined;
  let sequence = 0;

  beforeAll(async () => {
    testDatabase = await database();
    store = await openStore(testDatabase ? { url: testDatabase.url } : { sqlitePath: ":memory:" });
    await store.migrate(notifierMigrations);
  });

  afterAll(async () => {
    await store?.close();
    await testDatabase?.drop();
  });

  async function addDelivery(nowMs: number): Promise<string> {
    const notificationId = `n-${(sequence += 1)}`;
    await store.transaction(async (tx) => {
      await insertNotification(tx, {
        notificationId, eventId: `e-${sequence}`, producer: "wallet", kind: "payment.succeeded", locale: "en-US",
        parameters: {}, sealedParameters: {}, recipientHint: "a***@example.com", nowMs,
      });
      expect(await insertDelivery(tx, { notificationId, channel: "email", producer: "wallet", kind: "payment.succeeded", recipientHint: "a***@example.com", rateExempt: false, nowMs })).toBe(true);
      // The same notification and channel again: no second delivery.
      expect(await insertDelivery(tx, { notificationId, channel: "email", producer: "wallet", kind: "payment.succeeded", recipientHint: "a***@example.com", rateExempt: false, nowMs })).toBe(false);
    });
    return notificationId;
  }

  it("lets one claimant have a due delivery, and only it record the outcome", async () => {
    const id = await addDelivery(T0);
    const seq = (await findDelivery(store, id))!.seq;
    expect(await dueDeliveries(store, T0 - 1, 10)).not.toContain(seq);
    expect(await dueDeliveries(store, T0, 10)).toContain(seq);
    expect(await claimDelivery(store, seq, T0, "first", T0 + 60_000)).toBe(true);
    expect(await claimDelivery(store, seq, T0, "second", T0 + 60_000)).toBe(false);
    // The first claim outlived its lease: another instance takes it over, the first can no longer record.
    expect(await claimDelivery(store, seq, T0 + 60_001, "third", T0 + 120_000)).toBe(true);
    expect(await store.transaction((tx) => markFailed(tx, seq, "first", T0, "CHANNEL_UNAVAILABLE", T0 + 1_000))).toBe(false);
    expect(await store.transaction((tx) => markFailed(tx, seq, "third", T0, "CHANNEL_UNAVAILABLE", T0 + 1_000))).toBe(true);
    expect(await findDelivery(store, id)).toMatchObject({ status: "pending", attempts: 2n, last_error: "CHANNEL_UNAVAILABLE", next_attempt_at_ms: BigInt(T0 + 1_000) });
  });

  it("counts a recipient's sends over a sliding hour", async () => {
    const reserve = (notificationId: string, nowMs: number) => store.transaction((tx) => reserveSendSlot(tx, "k1.recipient", notificationId, 2, nowMs));
    expect(await reserve("a", T0)).toEqual({ allowed: true });
    expect(await reserve("b", T0 + 10_000)).toEqual({ allowed: true });
    expect(await reserve("c", T0 + 20_000)).toEqual({ allowed: false, untilMs: T0 + HOUR });
    // A retry of a notification that holds a slot keeps it.
    expect(await reserve("b", T0 + 30_000)).toEqual({ allowed: true });
    // A failed attempt gives its slot back.
    await store.transaction((tx) => releaseSendSlot(tx, "k1.recipient", "b"));
    expect(await reserve("c", T0 + 40_000)).toEqual({ allowed: true });
    expect(await reserve("d", T0 + 50_000)).toEqual({ allowed: false, untilMs: T0 + HOUR });
    expect(await reserve("d", T0 + HOUR)).toEqual({ allowed: true });
    // Another recipient has its own hour.
    expect(await store.transaction((tx) => reserveSendSlot(tx, "k1.other", "d", 2, T0 + 50_000))).toEqual({ allowed: true });
  });

  it("deletes finished notifications after the retention, and keeps pending ones", async () => {
    const finished = await addDelivery(T0);
    const pending = await addDelivery(T0);
    const seq = (await findDelivery(store, finished))!.seq;
    await claimDelivery(store, seq, T0, "t", T0 + 60_000);
    await store.transaction((tx) => markFailed(tx, seq, "t", T0, "INVALID_RECIPIENT", undefined));
    expect(await purgeExpired(store, 30, T0 + 29 * 24 * HOUR)).toBe(0);
    expect(await purgeExpired(store, 30, T0 + 31 * 24 * HOUR)).toBeGreaterThanOrEqual(1);
    expect(await findDelivery(store, finished)).toBeUndefined();
    expect(await findDelivery(store, pending)).toBeDefined();
    expect(await store.query("SELECT * FROM notifications WHERE notification_id = $1", [finished])).toEqual([]);
    expect(await store.query("SELECT * FROM recipient_sends WHERE sent_at_ms <= $1", [BigInt(T0)])).toEqual([]);
  });
});

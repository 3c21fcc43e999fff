import { createTestDatabase, openStore } from "@clearmesh/store";
import type { Store } from "@clearmesh/store";
import type { NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  busMigrations,
  connectNats,
  decodePayload,
  enqueueEvent,
  enqueueEvents,
  ensureClearmeshStreams,
  outboxMigrations,
  startConsumer,
  startNatsServer,
  silentLogger,
  startOutboxRelay,
} from "../src/index.js";
import type { OutboxRelay, OutboxRelayOptions, RunningConsumer, TestNatsServer } from "../src/index.js";
import { TransferCommittedSchema } from "@clearmesh/contracts";
import { keyLookupFor, newKey, openTempSqlite, sleep, transferEvent, waitFor } from "./helpers.js";

const STREAM = "CLEARMESH_CLEARING";
const key = newKey("clearing", "k1");

describe("outbox relay", () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  let testNumber = 0;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ url: server.url, name: "bus-outbox-test", reconnectWaitMs: 100 });
    await ensureClearmeshStreams(nc);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  function nextSubject(): string {
    testNumber += 1;
    return `clearmesh.clearing.outbox${testNumber}.event`;
  }

  async function sqliteStore(): Promise<Store> {
    const temp = await openTempSqlite();
    cleanups.push(() => temp.cleanup());
    return temp.store;
  }

  function relay(options: Omit<OutboxRelayOptions, "js">): OutboxRelay {
    // Services hand the relay their connection (one reply subscription); `nc: undefined` tests js.publish.
    const started = startOutboxRelay({ js: nc.jetstream(), nc, pollIntervalMs: 50, ...options });
    cleanups.push(() => started.stop());
    return started;
  }

  /** Consumes `subject` into `received` (transfer ids in handling order), strictly in stream order. */
  async function collect(store: Store, subject: string, received: string[]): Promise<RunningConsumer> {
    const consumer = await startConsumer({
      nc,
      stream: STREAM,
      durable: subject.replaceAll(".", "-"),
      filterSubjects: [subject],
      keyLookup: keyLookupFor(key),
      store,
      maxAckPending: 1,
      ackWaitMs: 2_000,
      handler: async (event) => {
        received.push(decodePayload(event, TransferCommittedSchema).transferId);
      },
    });
    cleanups.unshift(() => consumer.stop()); // stopped after the relays, before the stores close
    return consumer;
  }

  async function enqueueTransfer(store: Store, subject: string, transferId: string): Promise<void> {
    const event = transferEvent(key, subject, transferId);
    await store.transaction((tx) => enqueueEvent(tx, event.bytes, event.id, subject));
  }

  async function streamMessages(subject: string): Promise<number> {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  it("never publishes an event whose transaction rolled back", async () => {
    const subject = nextSubject();
    const store = await sqliteStore();
    const received: string[] = [];
    await collect(store, subject, received);
    const rolledBack = transferEvent(key, subject, "rolled-back");
    await expect(
      store.transaction(async (tx) => {
        await enqueueEvent(tx, rolledBack.bytes, rolledBack.id, subject);
        throw new Error("business rule failed after the event was enqueued");
      }),
    ).rejects.toThrow("business rule failed");
    await enqueueTransfer(store, subject, "committed");
    const outbox = relay({ store });
    outbox.notify();

    await waitFor(() => received.length === 1, 10_000, "the committed event");
    await sleep(300);
    expect(received).toEqual(["committed"]);
    expect(await streamMessages(subject)).toBe(1);
    expect(await store.query("SELECT seq FROM outbox")).toEqual([]);
  });

  it("publishes the backlog in seq order, batch after batch, and reports lag", async () => {
    const subject = nextSubject();
    const store = await sqliteStore();
    const expected = Array.from({ length: 600 }, (_, index) => `transfer-${index}`);
    // 550 in one transaction through enqueueEvents (two multi-row statements), the rest one by one.
    await store.transaction((tx) => enqueueEvents(tx, expected.slice(0, 550).map((transferId) => ({ ...transferEvent(key, subject, transferId), subject }))));
    for (const transferId of expected.slice(550)) await enqueueTransfer(store, subject, transferId);
    const received: string[] = [];
    await collect(store, subject, received);
    await sleep(20);
    let published = 0;
    const outbox = relay({ store, nc: undefined, batchSize: 256, onPublished: (count) => (published += count) });

    await waitFor(() => received.length === expected.length, 20_000, "600 events");
    expect(received).toEqual(expected);
    expect(published).toBe(600);
    expect(await streamMessages(subject)).toBe(600);
    await waitFor(() => outbox.lag().pending === 0, 2_000, "the lag to drop to zero");
    expect(outbox.lag()).toEqual({ pending: 0, oldestAgeMs: 0 });
  });

  it("reports the pending rows and their age while the bus rejects them", async () => {
    const store = await sqliteStore();
    const unrouted = "clearmesh.nowhere.event"; // no stream captures it: every publish fails
    const event = transferEvent(key, unrouted, "stuck");
    await store.transaction((tx) => enqueueEvent(tx, event.bytes, event.id, unrouted));
    const outbox = relay({ store, publishTimeoutMs: 200, backoff: { initialMs: 50, maxMs: 100 } });
    await waitFor(() => outbox.lag().pending === 1 && outbox.lag().oldestAgeMs >= 200, 5_000, "the lag");
    expect(await store.query("SELECT event_id FROM outbox")).toEqual([{ event_id: event.id }]);
  });

  it("delivers every event exactly once and in order across a nats-server restart", async () => {
    const subject = nextSubject();
    const store = await sqliteStore();
    const received: string[] = [];
    await collect(store, subject, received);
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message: string) => warnings.push(message) };
    const outbox = relay({ store, logger, publishTimeoutMs: 1_000, backoff: { initialMs: 50, maxMs: 500 } });
    const total = 150;
    const expected = Array.from({ length: total }, (_, index) => `transfer-${index}`);
    let enqueued = 0;
    const producing = (async () => {
      for (const transferId of expected) {
        await enqueueTransfer(store, subject, transferId);
        enqueued += 1;
        outbox.notify();
        await sleep(10);
      }
    })();

    await waitFor(() => received.length >= 20, 10_000, "events before the outage");
    await server.halt();
    const enqueuedAtOutage = enqueued;
    await sleep(1_000);
    expect(enqueued).toBeGreaterThan(enqueuedAtOutage); // the producer kept committing
    await server.restart();
    await producing;

    await waitFor(() => received.length >= total, 20_000, `${total} events (have ${received.length})`);
    await sleep(500);
    expect(received).toEqual(expected);
    expect(await streamMessages(subject)).toBe(total);
    await waitFor(() => outbox.lag().pending === 0, 2_000, "an empty outbox");
    expect(warnings).toContain("outbox publish failed; retrying"); // the relay did meet the outage
    expect(warnings).not.toContain("JetStream stored events after one that failed; they may reach consumers out of order");
  });
});

describe("outbox relay on PostgreSQL", () => {
  it("two relays on one database publish every event once, in order", async () => {
    const server = await startNatsServer();
    const database = await createTestDatabase();
    const nc = await connectNats({ url: server.url, name: "bus-outbox-pg-test" });
    const stores: Store[] = [];
    const stoppers: (() => Promise<void>)[] = [];
    try {
      await ensureClearmeshStreams(nc);
      for (let index = 0; index < 2; index++) stores.push(await openStore({ url: database.url }));
      const [first, second] = stores as [Store, Store];
      await first.migrate([...busMigrations, ...outboxMigrations]);
      const subject = "clearmesh.clearing.transfer.committed";
      const received: string[] = [];
      const consumer = await startConsumer({
        nc,
        stream: STREAM,
        durable: "pg-consumer",
        filterSubjects: [subject],
        keyLookup: keyLookupFor(key),
        store: first,
        maxAckPending: 1,
        handler: async (event, tx) => {
          await tx.query("SELECT 1");
          received.push(decodePayload(event, TransferCommittedSchema).transferId);
        },
      });
      stoppers.push(() => consumer.stop());
      let published = 0;
      const relays = [first, second].map((store) =>
        startOutboxRelay({ store, js: nc.jetstream(), nc, batchSize: 32, pollIntervalMs: 20, onPublished: (count) => (published += count) }),
      );
      for (const started of relays) stoppers.unshift(() => started.stop());

      const expected = Array.from({ length: 300 }, (_, index) => `transfer-${index}`);
      for (const transferId of expected) {
        const event = transferEvent(key, subject, transferId);
        await first.transaction((tx) => enqueueEvent(tx, event.bytes, event.id, subject));
        for (const started of relays) started.notify();
      }

      await waitFor(() => received.length >= expected.length, 20_000, "300 events");
      await sleep(300);
      expect(received).toEqual(expected);
      expect(published).toBe(expected.length);
      const rows = await first.query<{ count: bigint }>("SELECT COUNT(*) AS count FROM processed_events");
      expect(rows[0]?.count).toBe(300n);
    } finally {
      for (const stop of stoppers) await stop();
      for (const store of stores) await store.close();
      await nc.close();
      await database.drop();
      await server.stop();
    }
  });
});

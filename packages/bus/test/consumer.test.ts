import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema, ParticipantUpdatedSchema, TransferCommittedSchema } from "@clearmesh/contracts";
import { GroupCommitter, createTestDatabase, forwardingStore, openStore, type Store } from "@clearmesh/store";
import type { SigningKey } from "@clearmesh/trust";
import type { NatsConnection } from "nats";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  busMigrations,
  EventTypeMismatchError,
  InvalidEventReason,
  connectNats,
  decodePayload,
  ensureClearmeshStreams,
  publishEnvelope,
  startConsumer,
  startNatsServer,
} from "../src/index.js";
import type { RunningConsumer, StartConsumerOptions, TestNatsServer, VerifiedEvent } from "../src/index.js";
import { keyLookupFor, newKey, openTempSqlite, sleep, transferEvent, waitFor } from "./helpers.js";
import type { TempStore } from "./helpers.js";

const STREAM = "CLEARMESH_CLEARING";

describe("startConsumer", () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  let testNumber = 0;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ url: server.url, name: "bus-consumer-test" });
    await ensureClearmeshStreams(nc);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /** A fresh subject, durable and SQLite store per test, with a `handled` table for handler writes. */
  async function setup(): Promise<{ subject: string; durable: string; temp: TempStore }> {
    testNumber += 1;
    const temp = await openTempSqlite();
    await temp.store.execute("CREATE TABLE handled (event_id TEXT NOT NULL)");
    cleanups.push(() => temp.cleanup());
    return { subject: `clearmesh.clearing.test${testNumber}.event`, durable: `test${testNumber}`, temp };
  }

  async function start(options: Omit<StartConsumerOptions, "nc" | "stream">): Promise<RunningConsumer> {
    const consumer = await startConsumer({ nc, stream: STREAM, ...options });
    cleanups.push(() => consumer.stop());
    return consumer;
  }

  /** What every consumer here is given: its durable on the test's subject, events signed by `key`, and its store. */
  function consuming(subject: string, durable: string, key: SigningKey, store: Store) {
    return { durable, filterSubjects: [subject], keyLookup: keyLookupFor(key), store };
  }

  async function handledRows(temp: TempStore): Promise<string[]> {
    const rows = await temp.store.query<{ event_id: string }>("SELECT event_id FROM handled ORDER BY rowid");
    return rows.map((row) => row.event_id);
  }

  it("delivers a signed event with its verified fields and payload, and records it", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey("clearing", "k1");
    const received: VerifiedEvent[] = [];
    await start({
      ...consuming(subject, durable, key, temp.store),
      handler: async (event, tx) => {
        received.push(event);
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
      },
    });
    const built = transferEvent(key, subject, "transfer-1");
    const ack = await publishEnvelope(nc.jetstream(), built.bytes, built.id, subject);
    expect(ack.stream).toBe(STREAM);

    await waitFor(() => received.length === 1, 10_000, "the event");
    const event = received[0]!;
    expect(event).toMatchObject({ id: built.id, producer: "clearing", keyId: "k1", subject });
    expect(event.type).toBe(TransferCommittedSchema.typeName);
    expect(decodePayload(event, TransferCommittedSchema).transferId).toBe("transfer-1");
    expect(() => decodePayload(event, ParticipantUpdatedSchema)).toThrow(EventTypeMismatchError);
    await waitFor(async () => (await handledRows(temp)).length === 1, 5_000, "the handler's write");
    const processed = await temp.store.query("SELECT consumer, event_id FROM processed_events");
    expect(processed).toEqual([{ consumer: durable, event_id: built.id }]);
  });

  it("never hands invalid envelopes to the handler, counts and terminates them", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey("clearing", "k1");
    const impostor = newKey("clearing", "k1");
    const stranger = newKey("clearing", "k2");
    const handled: string[] = [];
    const invalid: InvalidEventReason[] = [];
    await start({
      ...consuming(subject, durable, key, temp.store),
      handler: async (event) => {
        handled.push(event.id);
      },
      onInvalid: (reason) => invalid.push(reason),
    });
    const js = nc.jetstream();
    const publish = (bytes: Uint8Array, id: string) => publishEnvelope(js, bytes, id, subject);

    const tampered = fromBinary(EnvelopeSchema, transferEvent(key, subject, "t-1").bytes);
    tampered.payload = toBinary(TransferCommittedSchema, create(TransferCommittedSchema, { transferId: "t-999" }));
    await publish(toBinary(EnvelopeSchema, tampered), "tampered");
    await publish(transferEvent(impostor, subject, "t-2").bytes, "wrong-key");
    await publish(transferEvent(stranger, subject, "t-3").bytes, "unknown-key");
    const unsigned = fromBinary(EnvelopeSchema, transferEvent(key, subject, "t-4").bytes);
    unsigned.signature = new Uint8Array();
    await publish(toBinary(EnvelopeSchema, unsigned), "unsigned");
    await publish(new Uint8Array([0xff, 0xff, 0xff, 0xff]), "garbage");
    await publish(new Uint8Array(), "empty");
    const elsewhere = transferEvent(key, "clearmesh.clearing.other.event", "t-5");
    await publish(elsewhere.bytes, "subject-mismatch");
    const valid = transferEvent(key, subject, "t-6");
    await publish(valid.bytes, valid.id);

    await waitFor(() => handled.length === 1 && invalid.length === 7, 10_000, "all eight messages");
    expect(handled).toEqual([valid.id]);
    expect(invalid).toEqual([
      InvalidEventReason.BAD_SIGNATURE,
      InvalidEventReason.BAD_SIGNATURE,
      InvalidEventReason.UNKNOWN_KEY,
      InvalidEventReason.SIGNATURE_MISSING,
      InvalidEventReason.MALFORMED,
      InvalidEventReason.MALFORMED,
      InvalidEventReason.SUBJECT_MISMATCH,
    ]);
    // Terminated, so never offered again.
    await sleep(300);
    const jsm = await nc.jetstreamManager();
    const info = await jsm.consumers.info(STREAM, durable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(invalid).toHaveLength(7);
    expect(await temp.store.query("SELECT event_id FROM processed_events")).toEqual([{ event_id: valid.id }]);
  });

  it("processes an event stored twice in the stream only once", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey();
    const duplicates: string[] = [];
    await start({
      ...consuming(subject, durable, key, temp.store),
      handler: async (event, tx) => {
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
      },
      onDuplicate: (event) => duplicates.push(event.id),
    });
    const js = nc.jetstream();
    const event = transferEvent(key, subject, "transfer-1");
    await publishEnvelope(js, event.bytes, event.id, subject);
    const second = await publishEnvelope(js, event.bytes, `${event.id}-copy`, subject);
    expect(second.duplicate).toBe(false); // JetStream really holds two copies
    const marker = transferEvent(key, subject, "transfer-2");
    await publishEnvelope(js, marker.bytes, marker.id, subject);

    await waitFor(async () => (await handledRows(temp)).includes(marker.id), 10_000, "the marker event");
    expect(await handledRows(temp)).toEqual([event.id, marker.id]);
    expect(duplicates).toEqual([event.id]);
  });

  it("redelivers after a handler failure, rolls back its writes, and processes exactly once", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey();
    let attempts = 0;
    const redeliveries: string[] = [];
    const processed: string[] = [];
    await start({
      ...consuming(subject, durable, key, temp.store),
      nakBackoff: { initialMs: 50, maxMs: 200 },
      handler: async (event, tx) => {
        attempts += 1;
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
        if (attempts <= 2) throw new Error(`ledger unavailable (attempt ${attempts})`);
      },
      onRedelivery: (event) => redeliveries.push(event.id),
      onProcessed: (event) => processed.push(event.id),
    });
    const event = transferEvent(key, subject, "transfer-1");
    await publishEnvelope(nc.jetstream(), event.bytes, event.id, subject);

    await waitFor(() => processed.length === 1, 10_000, "the successful attempt");
    expect(attempts).toBe(3);
    expect(redeliveries).toEqual([event.id, event.id]);
    await sleep(300);
    expect(processed).toEqual([event.id]);
    expect(await handledRows(temp)).toEqual([event.id]);
  });

  /** Publishes `count` events on `subject` (transfer-0 … transfer-<count-1>), in that order; returns their ids. */
  async function publishMany(key: SigningKey, subject: string, count: number): Promise<string[]> {
    const js = nc.jetstream();
    const ids: string[] = [];
    for (let n = 0; n < count; n += 1) {
      const event = transferEvent(key, subject, `transfer-${n}`);
      await publishEnvelope(js, event.bytes, event.id, subject);
      ids.push(event.id);
    }
    return ids;
  }

  async function ackState(durable: string): Promise<{ ackPending: number; pending: number }> {
    const info = await (await nc.jetstreamManager()).consumers.info(STREAM, durable);
    return { ackPending: info.num_ack_pending, pending: info.num_pending };
  }

  /** Every event of the durable acked: none waiting for an ack, none left to deliver. */
  async function expectAllAcked(durable: string): Promise<void> {
    await waitFor(async () => (await ackState(durable)).ackPending === 0, 5_000, "every ack");
    expect(await ackState(durable)).toEqual({ ackPending: 0, pending: 0 });
  }

  /** The test's store with its durable transactions group-committed, as the wallet's are; the committer shows its batches. */
  function groupCommitted(temp: TempStore): { store: Store; committer: GroupCommitter } {
    const committer = new GroupCommitter(temp.store, { maxBatchSize: 64 });
    cleanups.push(() => committer.close());
    return { store: forwardingStore(temp.store, { transaction: (fn) => committer.submit(fn) }), committer };
  }

  it("with a pipeline on SQLite, applies events in stream order while earlier ones commit, shares commits, and acks each", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey();
    const ids = await publishMany(key, subject, 120);
    const { store: grouped, committer } = groupCommitted(temp);
    const processed: string[] = [];
    let started = 0;
    let mostUncommitted = 0;
    await start({
      ...consuming(subject, durable, key, grouped),
      pipeline: 16,
      handler: async (event, tx) => {
        started += 1;
        mostUncommitted = Math.max(mostUncommitted, started - processed.length);
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
      },
      onProcessed: (event) => processed.push(event.id),
    });
    await waitFor(() => processed.length === ids.length, 10_000, "every event");
    expect(await handledRows(temp)).toEqual(ids);
    expect(processed).toEqual(ids);
    // Handled before the previous ones committed, at most the pipeline's worth, in shared commits.
    expect(mostUncommitted).toBeGreaterThan(1);
    expect(mostUncommitted).toBeLessThanOrEqual(16);
    expect(committer.stats.batches).toBeGreaterThan(0);
    expect(committer.stats.batches + committer.stats.singles).toBeLessThan(ids.length);
    await expectAllAcked(durable);
  });

  it("with a pipeline, an event whose handler fails is redelivered alone and the others are applied once, in order", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey();
    const ids = await publishMany(key, subject, 40);
    const { store: grouped, committer } = groupCommitted(temp);
    const failing = ids[7]!;
    let failures = 0;
    const processed: string[] = [];
    const redeliveries: string[] = [];
    await start({
      ...consuming(subject, durable, key, grouped),
      pipeline: 16,
      nakBackoff: { initialMs: 50, maxMs: 200 },
      handler: async (event, tx) => {
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
        if (event.id === failing && failures < 2) {
          failures += 1;
          throw new Error("ledger unavailable");
        }
      },
      onProcessed: (event) => processed.push(event.id),
      onRedelivery: (event) => redeliveries.push(event.id),
    });
    await waitFor(() => processed.length === ids.length, 10_000, "every event");
    // The batch holding the failing event was rolled back and each of its events ran again alone.
    expect(committer.stats.retried).toBeGreaterThan(0);
    expect(redeliveries.every((id) => id === failing)).toBe(true);
    expect(redeliveries.length).toBeGreaterThanOrEqual(1);
    const others = ids.filter((id) => id !== failing);
    const rows = await handledRows(temp);
    expect(rows.filter((id) => id !== failing)).toEqual(others);
    expect(rows.filter((id) => id === failing)).toEqual([failing]);
    expect(processed.filter((id) => id !== failing)).toEqual(others);
    await expectAllAcked(durable);
  });

  it("stop() with a pipeline waits for every event being handled and acks them", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey();
    const ids = await publishMany(key, subject, 6);
    let started = 0;
    let finished = 0;
    // Messages pulled but not yet handled when stop() ends the pull come back after ack_wait.
    const options = { ...consuming(subject, durable, key, temp.store), pipeline: 4, ackWaitMs: 1_000 };
    const consumer = await startConsumer({
      nc,
      stream: STREAM,
      ...options,
      handler: async (event, tx) => {
        started += 1;
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
        await sleep(100);
        finished += 1;
      },
    });
    await waitFor(() => started >= 2, 10_000, "the handlers to start");
    await consumer.stop();
    expect(finished).toBe(started);
    expect(finished).toBeLessThan(ids.length);
    expect(await handledRows(temp)).toEqual(ids.slice(0, finished));
    // What was handled was acked (never offered again); the rest comes to the next start.
    const duplicates: string[] = [];
    const later: string[] = [];
    await start({
      ...options,
      handler: async (event, tx) => {
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
      },
      onProcessed: (event) => later.push(event.id),
      onDuplicate: (event) => duplicates.push(event.id),
    });
    await waitFor(() => later.length === ids.length - finished, 10_000, "the rest");
    expect(later).toEqual(ids.slice(finished));
    expect(await handledRows(temp)).toEqual(ids);
    await sleep(200);
    expect(duplicates).toEqual([]);
  });

  it("on PostgreSQL handles one event at a time whatever the pipeline says", async () => {
    const { subject, durable } = await setup();
    const database = await createTestDatabase();
    let store: Store | undefined;
    cleanups.push(async () => {
      await store?.close();
      await database.drop();
    });
    store = await openStore({ url: database.url, poolSize: 4 });
    await store.migrate(busMigrations);
    await store.execute("CREATE TABLE handled (seq SERIAL PRIMARY KEY, event_id TEXT NOT NULL)");
    const key = newKey();
    const ids = await publishMany(key, subject, 12);
    let running = 0;
    let mostRunning = 0;
    const processed: string[] = [];
    await start({
      ...consuming(subject, durable, key, store),
      pipeline: 8,
      handler: async (event, tx) => {
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        await tx.execute("INSERT INTO handled (event_id) VALUES ($1)", [event.id]);
        await sleep(5);
        running -= 1;
      },
      onProcessed: (event) => processed.push(event.id),
    });
    await waitFor(() => processed.length === ids.length, 10_000, "every event");
    expect(mostRunning).toBe(1);
    const rows = await store.query<{ event_id: string }>("SELECT event_id FROM handled ORDER BY seq");
    expect(rows.map((row) => row.event_id)).toEqual(ids);
  });

  it("stop() waits for the event being handled and acks it", async () => {
    const { subject, durable, temp } = await setup();
    const key = newKey();
    let started = false;
    let finished = false;
    const consumer = await startConsumer({
      nc,
      stream: STREAM,
      ...consuming(subject, durable, key, temp.store),
      handler: async () => {
        started = true;
        await sleep(400);
        finished = true;
      },
    });
    const event = transferEvent(key, subject, "transfer-1");
    await publishEnvelope(nc.jetstream(), event.bytes, event.id, subject);
    await waitFor(() => started, 10_000, "the handler to start");
    await consumer.stop();
    expect(finished).toBe(true);
    await sleep(100);
    const jsm = await nc.jetstreamManager();
    const info = await jsm.consumers.info(STREAM, durable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });
});

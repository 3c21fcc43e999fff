import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JetStreamManager, NatsConnection } from "nats";
import {
  CLEARMESH_STREAMS,
  NatsUnavailableError,
  STREAM_DUPLICATE_WINDOW_MS,
  clearmeshStreams,
  connectNats,
  createUlidGenerator,
  ensureClearmeshStreams,
  ensureConsumer,
  ensureStreams,
  isUlid,
  StreamReplicasError,
  startNatsCluster,
  startNatsServer,
} from "../src/index.js";
import type { TestNatsServer } from "../src/index.js";

describe("streams", () => {
  let server: TestNatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ url: server.url, name: "bus-streams-test" });
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("declares the clearmesh streams and re-declares them without change", async () => {
    const first = await ensureClearmeshStreams(nc);
    expect(first.created).toEqual(CLEARMESH_STREAMS.map((stream) => stream.name));
    const second = await ensureClearmeshStreams(nc);
    expect(second).toEqual({ created: [], updated: [], unchanged: first.created });

    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info("CLEARMESH_CLEARING");
    expect(info.config.subjects).toEqual(["clearmesh.clearing.>"]);
    expect(info.config.storage).toBe("file");
    expect(info.config.duplicate_window).toBe(STREAM_DUPLICATE_WINDOW_MS * 1_000_000);
  });

  it("updates a stream whose limits changed and keeps its messages", async () => {
    await ensureClearmeshStreams(nc);
    const js = nc.jetstream();
    await js.publish("clearmesh.notify.requested", new Uint8Array([1]), { msgID: "keep-me" });
    const report = await ensureClearmeshStreams(nc, { maxAgeMs: 60 * 60 * 1000 });
    expect(report.updated).toEqual(CLEARMESH_STREAMS.map((stream) => stream.name));
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info("CLEARMESH_NOTIFY");
    expect(info.config.max_age).toBe(60 * 60 * 1000 * 1_000_000);
    expect(info.state.messages).toBe(1);
    await ensureClearmeshStreams(nc); // back to the defaults for the other tests
  });

  it("isolates prefixed streams on their own subjects", async () => {
    const jsm = await nc.jetstreamManager();
    const report = await ensureStreams(jsm, clearmeshStreams("t1"), {});
    expect(report.created).toContain("t1_CLEARMESH_CLEARING");
    const info = await jsm.streams.info("t1_CLEARMESH_CLEARING");
    expect(info.config.subjects).toEqual(["t1.clearmesh.clearing.>"]);
    expect(() => clearmeshStreams("bad.prefix")).toThrow(TypeError);
  });

  it("refuses more than one replica on a server outside a cluster, creating and changing nothing", async () => {
    const jsm = await nc.jetstreamManager();
    const fresh = clearmeshStreams("r3");
    await expect(ensureStreams(jsm, fresh, { replicas: 3 })).rejects.toBeInstanceOf(StreamReplicasError);
    await expect(ensureStreams(jsm, fresh, { replicas: 3 })).rejects.toThrow("stream r3_CLEARMESH_CLEARING needs 3 replicas");
    await expect(jsm.streams.info("r3_CLEARMESH_CLEARING")).rejects.toThrow("stream not found");

    await ensureStreams(jsm, fresh, {});
    await expect(ensureStreams(jsm, fresh, { replicas: 3 })).rejects.toThrow("runs outside a cluster");
    expect((await jsm.streams.info("r3_CLEARMESH_CLEARING")).config.num_replicas).toBe(1);
  });

  it("refuses a replica count JetStream cannot have before asking the server", async () => {
    const jsm = await nc.jetstreamManager();
    for (const replicas of [0, 6, 1.5]) {
      await expect(ensureStreams(jsm, clearmeshStreams("rbad"), { replicas })).rejects.toThrow(RangeError);
    }
    await expect(jsm.streams.info("rbad_CLEARMESH_CLEARING")).rejects.toThrow("stream not found");
  });

  it("declares a durable consumer idempotently and updates its settings", async () => {
    await ensureClearmeshStreams(nc);
    const definition = {
      stream: "CLEARMESH_CLEARING",
      durable: "wallet-transfers",
      filterSubjects: ["clearmesh.clearing.transfer.>"],
      maxDeliver: -1,
      ackWaitMs: 30_000,
      maxAckPending: 1_000,
    };
    expect((await ensureConsumer(nc, definition)).created).toEqual(["wallet-transfers"]);
    expect((await ensureConsumer(nc, definition)).unchanged).toEqual(["wallet-transfers"]);
    expect((await ensureConsumer(nc, { ...definition, ackWaitMs: 10_000 })).updated).toEqual(["wallet-transfers"]);
    const jsm = await nc.jetstreamManager();
    const info = await jsm.consumers.info("CLEARMESH_CLEARING", "wallet-transfers");
    expect(info.config.ack_wait).toBe(10_000 * 1_000_000);
    expect(info.config.filter_subject).toBe("clearmesh.clearing.transfer.>");
  });
});

describe("streams on a JetStream cluster", () => {
  it("keeps three replicas when asked, both when creating and when raising a stream from one", async () => {
    const cluster = await startNatsCluster(3);
    const client = await connectNats({ url: cluster.urls[0]!, name: "bus-replicas-test" });
    try {
      // JetStream answers once the servers elected a meta leader.
      const deadline = Date.now() + 20_000;
      let jsm: JetStreamManager;
      for (;;) {
        try {
          jsm = await client.jetstreamManager({ timeout: 1_000 });
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      const created = await ensureClearmeshStreams(client, { replicas: 3 });
      expect(created.created).toEqual(CLEARMESH_STREAMS.map((stream) => stream.name));
      const clearing = await jsm.streams.info("CLEARMESH_CLEARING");
      expect(clearing.config.num_replicas).toBe(3);
      expect(clearing.cluster?.name).toBeDefined();

      await ensureStreams(jsm, clearmeshStreams("up"), {});
      expect((await jsm.streams.info("up_CLEARMESH_NOTIFY")).config.num_replicas).toBe(1);
      const raised = await ensureStreams(jsm, clearmeshStreams("up"), { replicas: 3 });
      expect(raised.updated).toEqual(clearmeshStreams("up").map((stream) => stream.name));
      expect((await jsm.streams.info("up_CLEARMESH_NOTIFY")).config.num_replicas).toBe(3);

      const js = client.jetstream();
      const ack = await js.publish("clearmesh.notify.requested", new Uint8Array([7]), { msgID: "replicated" });
      expect(ack.stream).toBe("CLEARMESH_NOTIFY");
      expect((await jsm.streams.info("CLEARMESH_NOTIFY")).state.messages).toBe(1);
      expect(await ensureClearmeshStreams(client, { replicas: 3 })).toEqual({ created: [], updated: [], unchanged: created.created });
    } finally {
      await client.close();
      await cluster.stop();
    }
  }, 60_000);
});

describe("connectNats", () => {
  it("names the URL when nothing answers", async () => {
    const server = await startNatsServer();
    const url = server.url;
    await server.stop();
    const attempt = connectNats({ url, name: "nobody-home", connectTimeoutMs: 1_000 });
    await expect(attempt).rejects.toBeInstanceOf(NatsUnavailableError);
    await expect(attempt).rejects.toThrow(url);
  });
});

describe("ULID", () => {
  it("is 26 Crockford characters and strictly increasing within one millisecond", () => {
    const next = createUlidGenerator();
    const ids = Array.from({ length: 1_000 }, () => next(1_700_000_000_000));
    expect(ids.every(isUlid)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("encodes the time as in the ULID specification's example", () => {
    expect(createUlidGenerator()(1_469_918_176_385).slice(0, 10)).toBe("01ARYZ6S41");
  });

  it("stays increasing when the clock steps back", () => {
    const next = createUlidGenerator();
    const later = next(2_000);
    const earlier = next(1_000);
    expect(earlier > later).toBe(true);
  });

  it("carries into the time when the random part overflows", () => {
    const next = createUlidGenerator((size) => new Uint8Array(size).fill(0xff));
    const first = next(5);
    const second = next(5);
    expect(second > first).toBe(true);
    expect(second.slice(0, 10)).toBe("0000000006");
  });
});

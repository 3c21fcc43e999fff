import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "nats";
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

// JetStreamPublisher against a real nats-server: stored acks with their stream sequence,
// duplicates by Nats-Msg-Id reported as such, and refusals and silence turned into errors.
import type { NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, ensureClearmeshStreams, startNatsServer, type TestNatsServer } from "../src/index.js";
import { JetStreamPublisher } from "../src/publisher.js";

describe("JetStreamPublisher", () => {
  let server: TestNatsServer;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ url: server.url, name: "bus-publisher-test" });
    await ensureClearmeshStreams(nc);
    publisher = new JetStreamPublisher(nc);
  });

  afterAll(async () => {
    publisher?.close();
    await nc?.close();
    await server?.stop();
  });

  it("resolves with the stored sequence, in order, and reports a repeated Nats-Msg-Id as a duplicate", async () => {
    const subject = "clearmesh.clearing.publisher.event";
    const acks = await Promise.all(Array.from({ length: 50 }, (_, index) => publisher.publish(subject, new Uint8Array([index]), `msg-${index}`, 5_000)));
    expect(acks.every((ack) => ack.stream === "CLEARMESH_CLEARING" && !ack.duplicate)).toBe(true);
    const seqs = acks.map((ack) => ack.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(50);
    const again = await publisher.publish(subject, new Uint8Array([7]), "msg-7", 5_000);
    expect(again).toEqual({ stream: "CLEARMESH_CLEARING", seq: acks[7]!.seq, duplicate: true });
    const info = await (await nc.jetstreamManager()).streams.info("CLEARMESH_CLEARING");
    expect(info.state.messages).toBe(50);
  });

  it("refuses at once a subject no stream stores", async () => {
    const started = Date.now();
    await expect(publisher.publish("clearmesh.nowhere.event", new Uint8Array([1]), "lost-1", 5_000)).rejects.toThrow(/no responders/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("refuses when no ack comes in time", async () => {
    // A core subscriber answers nothing: the publish must time out, not hang.
    const silent = nc.subscribe("clearmesh.silent.event");
    await nc.flush();
    await expect(publisher.publish("clearmesh.silent.event", new Uint8Array([1]), "silent-1", 300)).rejects.toThrow(/no JetStream ack/);
    silent.unsubscribe();
  });
});

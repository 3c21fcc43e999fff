// CALLS_PER_TURN (turns.ts): at most that many calls started and answers taken back per turn of
// the event loop, the rest in later turns, in order, none lost; and over real HTTP/2, the server
// and the client under a limit of 1 answer every call of a burst, and a call whose client gave up
// while it waited for its turn never reaches its handler.
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { startGrpcServer, type GrpcServerCall, type GrpcRoute } from "../src/h2-server.js";
import { http2Transport, type CallError } from "../src/h2-client.js";
import { callsPerTurn, callsWaitingForTurn, inTurn, setCallsPerTurn } from "../src/turns.js";
import { generateSeed, publicKeyFromSeed, toHex } from "@clearmesh/trust";
import { loadSettings } from "../src/config.js";
import { commonSettings } from "../src/settings.js";
import { createServiceMetrics } from "../src/metrics.js";

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(async () => {
  setCallsPerTurn(0);
  // Each test starts in a turn of its own, with nothing waiting and the last turn's count gone.
  do await nextTurn();
  while (callsWaitingForTurn() > 0);
});

describe("inTurn", () => {
  it("runs everything at once without a limit", () => {
    const ran: number[] = [];
    for (let i = 0; i < 100; i++) inTurn(() => ran.push(i));
    expect(ran).toHaveLength(100);
    expect(callsWaitingForTurn()).toBe(0);
  });

  it("runs at most the limit per turn, the rest in later turns in the order they came", async () => {
    setCallsPerTurn(3);
    const ran: number[] = [];
    for (let i = 0; i < 8; i++) inTurn(() => ran.push(i));
    expect(ran).toEqual([0, 1, 2]);
    expect(callsWaitingForTurn()).toBe(5);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5]);
    // Work that comes while others wait queues behind them.
    inTurn(() => ran.push(100));
    expect(ran).toHaveLength(6);
    await nextTurn();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 100]);
    await nextTurn();
    // A turn later the limit is whole again.
    for (let i = 200; i < 204; i++) inTurn(() => ran.push(i));
    expect(ran.slice(9)).toEqual([200, 201, 202]);
    await nextTurn();
    expect(ran.slice(9)).toEqual([200, 201, 202, 203]);
  });

  it("runs the rest of the queue when a piece of work throws, and lets the error out", async () => {
    setCallsPerTurn(2);
    const ran: number[] = [];
    inTurn(() => ran.push(0));
    inTurn(() => ran.push(1));
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    // vitest would report the error as the run's own: this listener takes its place meanwhile.
    const listeners = process.listeners("uncaughtException");
    process.removeAllListeners("uncaughtException");
    process.on("uncaughtException", onError);
    try {
      // One turn's batch: the thrower, then work that must still run in the same turn.
      inTurn(() => {
        throw new Error("broken promise");
      });
      inTurn(() => ran.push(3));
      inTurn(() => ran.push(4));
      await nextTurn();
      expect(ran).toEqual([0, 1, 3]);
      await nextTurn();
      await nextTurn();
    } finally {
      process.off("uncaughtException", onError);
      for (const listener of listeners) process.on("uncaughtException", listener);
    }
    expect(ran).toEqual([0, 1, 3, 4]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe("broken promise");
  });

  it("refuses a limit that is not a whole number of calls, and keeps the one it had", () => {
    setCallsPerTurn(4);
    for (const bad of [-1, 1.5, Number.NaN, Infinity]) expect(() => setCallsPerTurn(bad)).toThrow(RangeError);
    expect(callsPerTurn()).toBe(4);
  });
});

describe("a gRPC server and client under CALLS_PER_TURN=1", () => {
  const PROCEDURE = "/test.Echo/Say";

  async function echoServer(onStart: (call: GrpcServerCall) => void) {
    const route: GrpcRoute = { requestStream: false, start: onStart };
    return startGrpcServer(new Map([[PROCEDURE, route]]), { host: "127.0.0.1", port: 0, maxReceiveBytes: 1024, maxSendBytes: 1024 });
  }

  it("answers every call of a burst, each with its own answer", async () => {
    setCallsPerTurn(1);
    const started: string[] = [];
    let mostWaiting = 0;
    const server = await echoServer((call) => {
      started.push(call.request.toString());
      mostWaiting = Math.max(mostWaiting, callsWaitingForTurn());
      call.answer(undefined, call.request);
    });
    const client = http2Transport(`127.0.0.1:${server.port}`);
    try {
      const sent = Array.from({ length: 40 }, (_, i) => `call-${i}`);
      const answers = await Promise.all(sent.map((text) => client.unary(PROCEDURE, Buffer.from(text), {}, 10_000)));
      expect(answers.map((answer) => Buffer.from(answer.bytes).toString())).toEqual(sent);
      expect([...started].sort()).toEqual([...sent].sort());
      // The burst did arrive together: calls waited for their turn.
      expect(mostWaiting).toBeGreaterThan(0);
      expect(callsWaitingForTurn()).toBe(0);
    } finally {
      client.close();
      await server.close(0);
    }
  });

  it("never starts a call whose client gave up while it waited for its turn", async () => {
    setCallsPerTurn(1);
    const started: string[] = [];
    const server = await echoServer((call) => {
      started.push(call.request.toString());
      call.answer(undefined, call.request);
    });
    const client = http2Transport(`127.0.0.1:${server.port}`);
    try {
      // Work ahead of the call: 200 turns of 1 ms each, so the call waits about 200 ms.
      for (let i = 0; i < 200; i++) {
        inTurn(() => {
          const until = performance.now() + 1;
          while (performance.now() < until);
        });
      }
      const error = (await client.unary(PROCEDURE, Buffer.from("late"), {}, 30).catch((caught: unknown) => caught)) as CallError;
      expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      while (callsWaitingForTurn() > 0) await nextTurn();
      expect(started).toEqual([]);
      // The server still serves.
      const answer = await client.unary(PROCEDURE, Buffer.from("on time"), {}, 10_000);
      expect(Buffer.from(answer.bytes).toString()).toBe("on time");
      expect(started).toEqual(["on time"]);
    } finally {
      client.close();
      await server.close(0);
    }
  });
});

describe("the calls waiting for their turn", () => {
  it("show in /metrics as clearmesh_calls_waiting_for_turn", async () => {
    const metrics = createServiceMetrics("wallet", { defaultMetrics: false });
    const gauge = async () => (await metrics.registry.getSingleMetricAsString("clearmesh_calls_waiting_for_turn")).split("\n").find((line) => line.startsWith("clearmesh_calls_waiting_for_turn{"));
    expect(await gauge()).toBe('clearmesh_calls_waiting_for_turn{service="wallet"} 0');
    setCallsPerTurn(2);
    for (let i = 0; i < 7; i++) inTurn(() => {});
    expect(await gauge()).toBe('clearmesh_calls_waiting_for_turn{service="wallet"} 5');
    await nextTurn();
    expect(await gauge()).toBe('clearmesh_calls_waiting_for_turn{service="wallet"} 3');
  });
});

describe("the CALLS_PER_TURN setting", () => {
  const anchor = toHex(publicKeyFromSeed(generateSeed()));
  const environment = { CLEARMESH_DATA_DIR: "/nonexistent", OPERATOR_PUBLIC_KEY: anchor, CLEARING_PUBLIC_KEY: anchor };

  it("is 0 (no limit) unless set, and takes a whole number of calls", () => {
    expect(loadSettings(commonSettings("wallet"), environment).callsPerTurn).toBe(0);
    expect(loadSettings(commonSettings("wallet"), { ...environment, CALLS_PER_TURN: "8" }).callsPerTurn).toBe(8);
    for (const bad of ["-1", "1.5", "eight", "10001"]) {
      expect(() => loadSettings(commonSettings("wallet"), { ...environment, CALLS_PER_TURN: bad }), bad).toThrow(/CALLS_PER_TURN/);
    }
  });
});

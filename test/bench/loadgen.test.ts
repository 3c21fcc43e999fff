// The load generator must end its run even when every unit fails at once: a B3 run that pays
// faster than the intents created for it runs out, and each further unit throws before any I/O.
// Before the fix its workers spun in microtasks, the phase timers never fired and the harness
// waited for output until its own timeout. The second test: which intents a B3 run pays.
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { PayPaymentIntentRequestSchema, WalletTransactionSchema, WalletTransactionState } from "@clearmesh/contracts";
import { afterEach, describe, expect, it } from "vitest";
import { firstJsonLine, spawnTsx, stopChildren } from "../../bench/harness.js";
import type { LoadgenResult } from "../../bench/loadgen.js";
import { PAY_PAYMENT_INTENT, WORKLOADS, intentId, type LoadgenConfig } from "../../bench/workloads.js";

afterEach(() => stopChildren());

describe("bench/loadgen.ts", () => {
  it("ends its window and reports the errors when every unit fails before any I/O", async () => {
    const config: LoadgenConfig = {
      target: "127.0.0.1:9", // never called: there is no intent to pay
      workload: "wallet-pay-intent",
      inFlight: 8,
      warmupS: 0.2,
      durationS: 0.5,
      keysDir: os.tmpdir(), // no signers: no key is read
      signers: [],
      verifyEvery: 0,
      idPrefix: "exhausted",
      // Earlier runs of the session paid all five intents of the pool.
      payments: { sessions: ["token"], intentPrefix: "none", firstIntent: 5, endIntent: 5 },
    };
    // Started as runLoad starts it; firstJsonLine fails the test if no result comes in 30 s.
    const result = await firstJsonLine<LoadgenResult>(spawnTsx("loadgen.ts", [JSON.stringify(config)]), "loadgen with no intent", 30_000);
    expect(result.calls).toBe(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.warmup_errors).toBeGreaterThan(0);
    expect(result.duration_s).toBeGreaterThanOrEqual(0.5);
    expect(result.error_samples[0]).toMatch(/no intent left: the run paid all 0 intents left for it/);
    // Every unit begun counts, failed ones and those of the warm-up too: B3 skips their intents in
    // the next run. Here each failed at once, in the phase it began in, so none was left in flight.
    expect(result.units_started).toBe(result.errors + result.warmup_errors);
  }, 40_000);

  it("counts the units still in flight at the window's end as started: their intents are used", async () => {
    // A server that accepts connections and never answers: every unit hangs until its deadline,
    // after the window; none completes, so none is counted as a call or an error.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const config: LoadgenConfig = {
        target: `127.0.0.1:${(silent.address() as AddressInfo).port}`, workload: "wallet-pay-intent", inFlight: 8, warmupS: 0.2, durationS: 0.5,
        keysDir: os.tmpdir(), signers: [], verifyEvery: 0, idPrefix: "hanging", deadlineMs: 1_500,
        payments: { sessions: ["token"], intentPrefix: "pool", firstIntent: 0, endIntent: 100 },
      };
      const result = await firstJsonLine<LoadgenResult>(spawnTsx("loadgen.ts", [JSON.stringify(config)]), "loadgen against a silent server", 30_000);
      expect([result.calls, result.errors, result.warmup_calls, result.warmup_errors]).toEqual([0, 0, 0, 0]);
      expect(result.units_started).toBe(8);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 40_000);

  it("pays a B3 run's intents from firstIntent on, in order, and no further than the pool", async () => {
    const paid: string[] = [];
    const workload = WORKLOADS["wallet-pay-intent"]({
      target: "unused", workload: "wallet-pay-intent", inFlight: 1, warmupS: 0, durationS: 0, keysDir: os.tmpdir(), signers: [], verifyEvery: 0,
      idPrefix: "run-2", payments: { sessions: ["a", "b"], intentPrefix: "pool", firstIntent: 7, endIntent: 9 },
    }, async (procedure, bytes, headers) => {
      expect(procedure).toBe(PAY_PAYMENT_INTENT);
      const request = fromBinary(PayPaymentIntentRequestSchema, bytes);
      paid.push(`${request.paymentIntentId} ${request.requestId} ${headers.authorization}`);
      return { bytes: toBinary(WalletTransactionSchema, create(WalletTransactionSchema, { state: WalletTransactionState.COMPLETED })), headers: new Metadata() };
    }, []);
    await workload.op(0);
    await workload.op(1);
    await expect(workload.op(2)).rejects.toThrow(/no intent left: the run paid all 2 intents left for it/);
    expect(paid).toEqual([
      `${intentId("pool", 7)} run-2-0000000000 Bearer a`,
      `${intentId("pool", 8)} run-2-0000000001 Bearer b`,
    ]);
    expect(workload.stats().completed).toBe(2);
  });
});

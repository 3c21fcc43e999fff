// The load generator must end its run even when every unit fails at once: a B3 run that pays
// faster than the intents created for it runs out, and each further unit throws before any I/O.
// Before the fix its workers spun in microtasks, the phase timers never fired and the harness
// waited for output until its own timeout.
import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { firstJsonLine, spawnTsx, stopChildren } from "../../bench/harness.js";
import type { LoadgenResult } from "../../bench/loadgen.js";
import type { LoadgenConfig } from "../../bench/workloads.js";

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
      payments: { sessions: ["token"], intentPrefix: "none", intents: 0 },
    };
    // Started as runLoad starts it; firstJsonLine fails the test if no result comes in 30 s.
    const result = await firstJsonLine<LoadgenResult>(spawnTsx("loadgen.ts", [JSON.stringify(config)]), "loadgen with no intent", 30_000);
    expect(result.calls).toBe(0);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.warmup_errors).toBeGreaterThan(0);
    expect(result.duration_s).toBeGreaterThanOrEqual(0.5);
    expect(result.error_samples[0]).toMatch(/no intent left/);
  }, 40_000);
});

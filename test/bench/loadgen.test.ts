// The load generator must end its run even when every unit fails at once: a B3 run that pays
// faster than the intents created for it runs out, and each further unit throws before any I/O.
// Before the fix its workers spun in microtasks, the phase timers never fired and the harness
// waited for output until its own timeout.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { LoadgenResult } from "../../bench/loadgen.js";
import type { LoadgenConfig } from "../../bench/workloads.js";

const root = path.resolve(import.meta.dirname, "../..");

function runLoadgen(config: LoadgenConfig, timeoutMs: number): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--import", "tsx", path.join(root, "bench/loadgen.ts"), JSON.stringify(config)], { cwd: root, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`loadgen failed or hung: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as LoadgenResult);
    });
  });
}

describe("bench/loadgen.ts", () => {
  it("ends its window and reports the errors when every unit fails before any I/O", async () => {
    const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), "cm-loadgen-"));
    try {
      const result = await runLoadgen({
        target: "127.0.0.1:9", // never called: there is no intent to pay
        workload: "wallet-pay-intent",
        inFlight: 8,
        warmupS: 0.2,
        durationS: 0.5,
        keysDir,
        signers: [],
        verifyEvery: 0,
        idPrefix: "exhausted",
        payments: { sessions: ["token"], intentPrefix: "none", intents: 0 },
      }, 30_000);
      expect(result.calls).toBe(0);
      expect(result.errors).toBeGreaterThan(0);
      expect(result.warmup_errors).toBeGreaterThan(0);
      expect(result.duration_s).toBeGreaterThanOrEqual(0.5);
      expect(result.error_samples[0]).toMatch(/no intent left/);
    } finally {
      fs.rmSync(keysDir, { recursive: true, force: true });
    }
  }, 40_000);
});

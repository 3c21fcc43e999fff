// A smoke run of every available benchmark case (issue 7): about a second each, into a
// temporary results file, no timing asserted; it checks that the harness still runs end to end
// (servers in their own processes, own nats-server on a free port, temporary folders, a fresh
// PostgreSQL database for B5) and that every call succeeded.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

interface Row {
  case: string;
  status: string;
  in_flight: number | null;
  throughput_per_s: number | null;
  ratio_to_b0: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  cpu_ms_per_call: number | null;
  rss_mb: number | null;
  calls: number | null;
  errors: number | null;
  warmup_errors?: number;
  verified_responses?: number;
  request_bytes?: number;
  response_bytes?: number;
}

interface Results {
  machine: Record<string, unknown>;
  cases: Row[];
  targets: unknown;
}

describe("npm run bench -- --smoke", () => {
  let dir: string;
  let results: Results;
  let output = "";

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-bench-smoke-"));
    const out = path.join(dir, "results.json");
    const exitCode = await new Promise<number>((resolve) => {
      const child = execFile(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out], {
        cwd: root, timeout: 100_000, killSignal: "SIGINT", maxBuffer: 16 * 1024 * 1024,
      }, (error) => resolve(error ? (typeof error.code === "number" ? error.code : 1) : 0));
      child.stdout!.on("data", (chunk: Buffer) => { output += chunk.toString(); });
      child.stderr!.on("data", (chunk: Buffer) => { output += chunk.toString(); });
    });
    expect(fs.existsSync(out), `no results file; exit ${exitCode}; output:\n${output}`).toBe(true);
    results = JSON.parse(fs.readFileSync(out, "utf8")) as Results;
    expect(exitCode, output).toBe(0);
  }, 120_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const row = (id: string) => {
    const found = results.cases.filter((entry) => entry.case === id);
    expect(found.length, `${id} in ${JSON.stringify(results.cases.map((entry) => entry.case))}`).toBeGreaterThan(0);
    return found;
  };

  it("describes the machine", () => {
    for (const field of ["cpus", "cpu_model", "total_memory_mb", "node", "platform", "date"]) expect(results.machine).toHaveProperty(field);
  });

  it("judges no target on a smoke run's second of load", () => {
    expect(results.targets).toBeNull();
    expect(output).not.toContain("targets of issue 7");
  });

  it.each(["B0", "B1", "B2", "B3", "B5"])("ran %s with calls and no errors", (id) => {
    for (const entry of row(id)) {
      expect(entry.status, output).toBe("ok");
      expect(entry.in_flight).toBe(32);
      expect(entry.calls, output).toBeGreaterThan(0);
      expect(entry.errors, JSON.stringify(entry)).toBe(0);
      expect(entry.warmup_errors, JSON.stringify(entry)).toBe(0);
      for (const field of ["throughput_per_s", "p50_ms", "p99_ms", "cpu_ms_per_call", "rss_mb", "ratio_to_b0"] as const) {
        expect(typeof entry[field], `${id} ${field}`).toBe("number");
      }
    }
  });

  it("reports the generator's own lateness beside every latency it measured", () => {
    for (const id of ["B0", "B1", "B2", "B3", "B5"]) {
      for (const entry of row(id) as Array<Row & Record<string, unknown>>) {
        const utilisation = entry.loadgen_event_loop_util as number;
        expect(utilisation, id).toBeGreaterThan(0);
        expect(utilisation, id).toBeLessThanOrEqual(1);
        expect(entry.loadgen_loop_delay_max_ms as number, id).toBeGreaterThanOrEqual(entry.loadgen_loop_delay_p99_ms as number);
        expect(entry.loadgen_loop_delay_p99_ms as number, id).toBeGreaterThan(0);
        expect(entry.loadgen_gc_pause_share as number, id).toBeGreaterThanOrEqual(0);
        expect(entry.loadgen_gc_pause_share as number, id).toBeLessThan(1);
        expect(typeof entry.loadgen_gc_pause_max_ms, id).toBe("number");
        const inPauses = entry.loadgen_calls_in_gc_pause_share as number;
        expect(inPauses, id).toBeGreaterThanOrEqual(0);
        expect(inPauses, id).toBeLessThanOrEqual(1);
        // Without the calls that overlapped a pause none can be slower than the slowest of all.
        if (inPauses < 1) expect(entry.loadgen_p99_outside_gc_pause_ms as number, id).toBeGreaterThan(0);
        expect(entry.loadgen_p99_outside_gc_pause_ms as number, id).toBeLessThanOrEqual(entry.max_ms as number);
      }
    }
  });

  it("verified clearing's response signatures in B1, B2 and B5", () => {
    for (const id of ["B1", "B2", "B5"]) for (const entry of row(id)) expect(entry.verified_responses, id).toBeGreaterThan(0);
  });

  it("measured B3's three services each in its own process, and everything after the answers was delivered", () => {
    for (const entry of row("B3") as Array<Row & Record<string, unknown>>) {
      const services = entry.services as Record<string, { pid: number; cpu_ms_per_call: number; rss_peak_mb: number }>;
      expect(Object.keys(services).sort()).toEqual(["clearing", "connector", "wallet"]);
      expect(new Set(Object.values(services).map((service) => service.pid)).size).toBe(3);
      for (const [name, service] of Object.entries(services)) {
        expect(typeof service.cpu_ms_per_call, name).toBe("number");
        expect(service.rss_peak_mb, name).toBeGreaterThan(0);
      }
      // Webhooks and notification events go out after the answer; none may be lost or fail.
      const drained = entry.after_drain as Record<string, number>;
      expect(drained, JSON.stringify(drained)).toMatchObject({ connector_webhooks_pending: 0, connector_webhook_failed_attempts: 0, wallet_movements_pending: 0, wallet_outbox_pending: 0, clearing_outbox_pending: 0 });
      expect(drained.connector_webhooks_received).toBeGreaterThanOrEqual(2 * entry.calls!);
    }
  });

  it("gives B0 the request and response sizes of B1", () => {
    const [b0] = row("B0");
    const [b1] = row("B1");
    expect(b0!.request_bytes).toBe(b1!.request_bytes);
    // Timestamps' nanos vary in length by a byte or so.
    expect(Math.abs(b0!.response_bytes! - b1!.response_bytes!)).toBeLessThanOrEqual(4);
  });

  it("closed B4's seeded window of 10,000 transfers and checked its nets", () => {
    for (const entry of row("B4") as Array<Row & Record<string, unknown>>) {
      expect(entry.status, output).toBe("ok");
      expect(entry.calls).toBe(1);
      expect(entry.errors).toBe(0);
      expect(entry.transfers).toBe(10_000);
      expect(entry.title).toBe("close a settlement window of 10,000 transfers among 100 participants");
      expect(entry.participants).toBe(100);
      // Two currencies, 100 banks and the fee account: one net and one instruction per account the window moved.
      expect(entry.nets_verified).toBe(true);
      expect(entry.instructions as number).toBeGreaterThanOrEqual(200);
      for (const field of ["p50_ms", "cpu_ms_per_call", "rss_mb", "seed_ms", "startup_ms", "ledger_load_ms", "transfer_ids_ms", "empty_close_ms"]) {
        expect(typeof entry[field], `B4 ${field}`).toBe("number");
      }
      expect(entry.p50_ms).toBe(entry.p99_ms);
    }
  });

  it("lists the cases not built yet without numbers", () => {
    for (const id of ["B2", "B3", "B4"]) {
      for (const entry of row(id)) {
        if (entry.status === "ok") continue; // built since: then it is measured like the others
        expect(entry.status).toBe("not yet built");
        expect(entry.throughput_per_s).toBeNull();
      }
    }
  });
});

// The load generator: its own process, one grpc-js channel (one HTTP/2 connection) to the
// target, a fixed number of units of work in flight, each call signed as a partner signs it. It
// uses grpc-js, as a partner's stack would, not the services' own node:http2 client.
// Runs a warm-up, then a measured window; prints one JSON object with the window's results on
// stdout. When started with an IPC channel (by bench/run.ts) it reports the window's start and
// end as they happen, so the harness can sample the server's CPU and memory at the same moments.
//
//   node --import tsx bench/loadgen.ts '<LoadgenConfig as JSON>'
import fs from "node:fs";
import { PerformanceObserver, monitorEventLoopDelay, type EventLoopUtilization, type PerformanceEntry } from "node:perf_hooks";
import { ClearingService } from "@clearmesh/contracts";
import { createSignedClient, keyFilePath, loadSigningKey } from "@clearmesh/runtime";
import { LatencyLog, percentile } from "./latencies.js";
import { WORKLOADS, type LoadgenConfig } from "./workloads.js";

export interface LoadgenResult {
  workload: string;
  in_flight: number;
  duration_s: number;
  calls: number;
  errors: number;
  warmup_calls: number;
  warmup_errors: number;
  /** Units begun in the whole run (warm-up, window and the ones in flight at its end), failed ones too: op indexes 0 up to (not including) this were used. */
  units_started: number;
  throughput_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  cpu_ms: number;
  cpu_ms_per_call: number;
  /** How late the generator's own event loop ran in the window (a 1 ms timer's lateness), p99 and max. */
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
  /** The generator's garbage collections in the window: total pause time and the longest pause. */
  gc_pause_ms: number;
  gc_pause_max_ms: number;
  /** The share of the window's calls in flight during one of those pauses, and the p99 of the others. */
  calls_in_gc_pause_share: number;
  p99_outside_gc_pause_ms: number;
  /** The share of the window the generator's event loop was busy. */
  event_loop_util: number;
  error_samples: string[];
  [counter: string]: unknown;
}

export type LoadgenMessage = { type: "phase"; phase: "measure" | "done" };

const argument = process.argv[2];
if (!argument) {
  process.stderr.write("usage: loadgen.ts '<config json>' | @<config file>\n");
  process.exit(2);
}
const config = JSON.parse(argument.startsWith("@") ? fs.readFileSync(argument.slice(1), "utf8") : argument) as LoadgenConfig;
const signers = config.signers.map((participantId) => loadSigningKey(keyFilePath(config.keysDir, participantId), participantId, `${participantId}-1`));

// One channel, not shared with any other client of this process: one HTTP/2 connection.
const client = createSignedClient(ClearingService, {
  address: config.target,
  defaultDeadlineMs: config.deadlineMs ?? 30_000,
  transport: "grpc-js",
  channelOptions: { "grpc.use_local_subchannel_pool": 1 },
});
const workload = WORKLOADS[config.workload](config, (procedure, bytes, headers) => client.raw(procedure, bytes, headers), signers);

const notify = (message: LoadgenMessage) => process.send?.(message);
process.on("disconnect", () => process.exit(1)); // the harness is gone

let phase: "warmup" | "measure" | "done" = "warmup";
let next = 0;
const latencies = new LatencyLog();
let errors = 0;
let warmupCalls = 0;
let warmupErrors = 0;
const errorSamples: string[] = [];

async function worker(): Promise<void> {
  while (phase !== "done") {
    const n = next++;
    const started = performance.now();
    let failed: unknown;
    try {
      await workload.op(n);
    } catch (error) {
      failed = error;
    }
    const elapsed = performance.now() - started;
    // A unit counts in the phase in which it completed.
    if (phase === "measure") {
      if (failed === undefined) latencies.record(started, elapsed);
      else errors += 1;
    } else if (phase === "warmup") {
      if (failed === undefined) warmupCalls += 1;
      else warmupErrors += 1;
    }
    if (failed !== undefined) {
      if (errorSamples.length < 5) errorSamples.push(String((failed as Error).message ?? failed));
      // A unit that fails at once (no intent left, a refused connection) must not spin the
      // workers in microtasks: the phase timers would never fire and the run would hang.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

// The generator's own lateness, which every call it times includes: its event loop's delay and
// its garbage collections' pauses, in the window only.
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
let gcPauseMs = 0;
let gcPauseMaxMs = 0;
// Every pause, the warm-up's too: a call timed in the window may have started before it. Entries
// arrive after their pause; those still undelivered at the window's end are taken then.
const gcPauses: Array<[number, number]> = [];
function takePauses(entries: readonly PerformanceEntry[]): void {
  for (const entry of entries) {
    gcPauses.push([entry.startTime, entry.startTime + entry.duration]);
    if (phase !== "measure") continue;
    gcPauseMs += entry.duration;
    gcPauseMaxMs = Math.max(gcPauseMaxMs, entry.duration);
  }
}
const gcObserver = new PerformanceObserver((list) => takePauses(list.getEntries()));
gcObserver.observe({ entryTypes: ["gc"] });

const workers = Array.from({ length: config.inFlight }, () => worker());
await new Promise((resolve) => setTimeout(resolve, config.warmupS * 1000));
phase = "measure";
workload.reset();
const windowStart = performance.now();
const cpuStart = process.cpuUsage();
const eluStart: EventLoopUtilization = performance.eventLoopUtilization();
loopDelay.enable();
notify({ type: "phase", phase: "measure" });
await new Promise((resolve) => setTimeout(resolve, config.durationS * 1000));
phase = "done";
const windowS = (performance.now() - windowStart) / 1000;
const cpu = process.cpuUsage(cpuStart);
const elu = performance.eventLoopUtilization(eluStart);
loopDelay.disable();
takePauses(gcObserver.takeRecords());
gcObserver.disconnect();
notify({ type: "phase", phase: "done" });
const calls = latencies.count;
const counters = workload.stats();
await Promise.all(workers); // let the units in flight finish (they are not counted)
client.close();

const sorted = latencies.sorted();
const outsidePauses = latencies.outside(gcPauses);
const cpuMs = (cpu.user + cpu.system) / 1000;
const result: LoadgenResult = {
  workload: config.workload,
  in_flight: config.inFlight,
  duration_s: round(windowS),
  calls,
  errors,
  warmup_calls: warmupCalls,
  warmup_errors: warmupErrors,
  units_started: next,
  throughput_per_s: round(calls / windowS, 1),
  p50_ms: round(percentile(sorted, 0.5)),
  p90_ms: round(percentile(sorted, 0.9)),
  p99_ms: round(percentile(sorted, 0.99)),
  max_ms: round(percentile(sorted, 1)),
  cpu_ms: round(cpuMs, 1),
  cpu_ms_per_call: calls > 0 ? round(cpuMs / calls, 4) : 0,
  loop_delay_p99_ms: round(loopDelay.percentile(99) / 1e6),
  loop_delay_max_ms: round(loopDelay.max / 1e6),
  gc_pause_ms: round(gcPauseMs, 1),
  gc_pause_max_ms: round(gcPauseMaxMs),
  calls_in_gc_pause_share: calls > 0 ? round(outsidePauses.overlapping / calls) : 0,
  p99_outside_gc_pause_ms: round(percentile(outsidePauses.sorted, 0.99)),
  event_loop_util: round(elu.utilization),
  error_samples: errorSamples,
  ...counters,
};
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));

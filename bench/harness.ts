// The harness's building blocks: measured servers and load generators as child processes
// (`node --import tsx`), the IPC protocol with them, and one measured run turned into a row of
// the results table. Cases (bench/cases.ts) are written with these.
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SERVICE_NODE_FLAGS } from "../packages/cli/src/start.js";
import type { LoadgenMessage, LoadgenResult } from "./loadgen.js";
import type { ClearingServerInfo } from "./serve-clearing.js";
import { childPids, type ServerReply, type ServerRequest, type ServerStats } from "./server-child.js";
import type { LoadgenConfig } from "./workloads.js";

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(benchDir, "..");

/** What one measured run yields (a row without its case, title, status and ratio). */
export interface MeasuredRow {
  in_flight: number | null;
  throughput_per_s: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  /** Server CPU (user + system) in the measured window / calls completed in it. */
  cpu_ms_per_call: number | null;
  /** Peak RSS of the server process sampled during the measured window. */
  rss_mb: number | null;
  calls: number | null;
  errors: number | null;
  duration_s: number | null;
  [extra: string]: unknown;
}

/** One row of bench/results/latest.json. */
export interface CaseRow extends MeasuredRow {
  case: string;
  status: "ok" | "not yet built" | "failed";
  title: string;
  ratio_to_b0: number | null;
}

const children = new Set<ChildProcess>();
let exitHook = false;
/** Processes stopped with SIGSTOP (parked servers and their helpers): continued before anything stops them. */
const parked = new Set<number>();

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function unparkAll(): void {
  for (const pid of parked) signal(pid, "SIGCONT");
  parked.clear();
}

/** Starts `node --import tsx <script>` with an IPC channel; stdout is piped, stderr kept (tail) for errors. */
export function spawnTsx(script: string, args: readonly string[], options: { env?: Record<string, string | undefined>; nodeArgs?: readonly string[] } = {}): ChildProcess & { stderrTail(): string } {
  return spawnTracked([...(options.nodeArgs ?? []), "--import", "tsx", path.join(benchDir, script), ...args], options.env);
}

/** Starts `node <argv>` with an IPC channel; stdout is piped, stderr kept (tail) for errors. */
function spawnTracked(argv: readonly string[], env: Record<string, string | undefined> | undefined): ChildProcess & { stderrTail(): string } {
  const child = spawn(process.execPath, argv, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  }) as ChildProcess & { stderrTail(): string };
  const tail: string[] = [];
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    tail.push(chunk);
    if (tail.length > 50) tail.shift();
    if (process.env.BENCH_VERBOSE) process.stderr.write(chunk);
  });
  child.stderrTail = () => tail.join("").slice(-4000);
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (!exitHook) {
    exitHook = true;
    // Children also stop by themselves when the IPC channel closes; this is the last resort.
    process.on("exit", () => {
      unparkAll();
      for (const running of children) running.kill("SIGKILL");
    });
  }
  return child;
}

/** The measured servers' scripts, bundled on first use into bench/.build/<name>.mjs. */
const SERVER_SCRIPTS = ["serve-clearing.ts", "serve-echo.ts", "serve-service.ts", "serve-settlement.ts"];
const bundleDir = path.join(benchDir, ".build");
let bundling = false;
const bundles = new Map<string, Promise<string>>();

/**
 * From now on measured servers run as bundles made with the same esbuild settings as `npm run
 * build`, on plain node as a deployed service does (no TypeScript loader thread in its memory or
 * CPU). Each script is bundled the first time it starts, inside the repository so the bundle
 * finds node_modules. The load generator stays on tsx.
 */
export function prepareServerBundles(): void {
  bundling = true;
}

function bundleOf(script: string): Promise<string> {
  let bundle = bundles.get(script);
  if (!bundle) {
    const name = script.replace(/\.ts$/, "");
    bundle = import("../scripts/build.js").then(async ({ buildBundles }) => {
      await buildBundles({ [name]: `bench/${script}` }, bundleDir);
      return path.join(bundleDir, `${name}.mjs`);
    });
    bundles.set(script, bundle);
  }
  return bundle;
}

/** A measured server: its bundle on plain node once prepareServerBundles was called, else its source on tsx. */
async function spawnServer(script: string, args: readonly string[], options: { env?: Record<string, string | undefined>; nodeArgs?: readonly string[] }): Promise<ChildProcess & { stderrTail(): string }> {
  if (!bundling || !SERVER_SCRIPTS.includes(script)) return spawnTsx(script, args, options);
  return spawnTracked([...SERVICE_NODE_FLAGS, ...(options.nodeArgs ?? []), await bundleOf(script), ...args], options.env);
}

/** On Ctrl-C: ask every child to stop (servers stop their nats-server and remove their folders), then exit. */
export async function stopChildren(timeoutMs = 5_000): Promise<void> {
  unparkAll();
  const running = [...children];
  for (const child of running) child.kill("SIGTERM");
  await Promise.all(running.map((child) => waitForExit(child, timeoutMs)));
}

/** Resolves with the first stdout line parsed as JSON; rejects if the child exits or times out first. */
export function firstJsonLine<T>(child: ChildProcess & { stderrTail(): string }, what: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => fail(new Error(`${what}: no output within ${timeoutMs} ms\n${child.stderrTail()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const newline = buffered.indexOf("\n");
      if (newline === -1) return;
      cleanup();
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as T);
      } catch (error) {
        reject(new Error(`${what}: bad output line ${JSON.stringify(buffered.slice(0, newline))}: ${(error as Error).message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => fail(new Error(`${what} exited (${code ?? signal}) before reporting\n${child.stderrTail()}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("exit", onExit);
    };
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    child.stdout!.on("data", onData);
    child.once("exit", onExit);
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A measured server in its own process. */
export class ServerProcess<Info> {
  #nextId = 1;
  #parked: number[] = [];
  readonly #pending = new Map<number, (stats: ServerStats) => void>();

  constructor(readonly name: string, readonly child: ChildProcess & { stderrTail(): string }, readonly info: Info, readonly target: string) {
    child.on("message", (message: ServerReply) => {
      if (message.type !== "stats") return;
      this.#pending.get(message.id)?.(message.stats);
      this.#pending.delete(message.id);
    });
  }

  static async start<Info extends { grpcPort: number }>(name: string, script: string, args: readonly string[], options: Parameters<typeof spawnTsx>[2] = {}): Promise<ServerProcess<Info>> {
    const child = await spawnServer(script, args, options);
    try {
      const info = await firstJsonLine<Info>(child, name, 60_000);
      return new ServerProcess(name, child, info, `127.0.0.1:${info.grpcPort}`);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
  }

  stats(resetPeak = false): Promise<ServerStats> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no stats answer\n${this.child.stderrTail()}`));
      }, 15_000);
      this.#pending.set(id, (stats) => {
        clearTimeout(timer);
        resolve(stats);
      });
      this.child.send({ type: "stats", id, resetPeak } satisfies ServerRequest);
    });
  }

  /** Polls stats until `done` holds (e.g. the outbox drained) or the time is up; returns the last stats. */
  async settle(done: (stats: ServerStats) => boolean, timeoutMs: number): Promise<ServerStats> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stats = await this.stats();
      if (done(stats) || Date.now() > deadline) return stats;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Stops the process and its helpers (its nats-server) with SIGSTOP while other cases run, so
   * its timers and background work take no CPU from their measurements. Nothing talks to them
   * meanwhile: a case's clients and servers are parked and continued together.
   */
  park(): void {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null || this.#parked.length > 0) return;
    this.#parked = [pid, ...childPids(pid)];
    for (const each of this.#parked) {
      parked.add(each);
      signal(each, "SIGSTOP");
    }
  }

  /** Continues what park stopped (a no-op if it is not parked). */
  unpark(): void {
    for (const each of this.#parked.splice(0)) {
      parked.delete(each);
      signal(each, "SIGCONT");
    }
  }

  /** Asks the process to stop cleanly (a CPU profile is written then), kills it if it does not. */
  async stop(): Promise<void> {
    this.unpark();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: "stop" } satisfies ServerRequest);
    else this.child.kill("SIGTERM");
    if (!(await waitForExit(this.child, 20_000))) {
      this.child.kill("SIGKILL");
      await waitForExit(this.child, 5_000);
    }
  }
}

export function startEchoServer(procedure: string, response: Uint8Array, headers: Record<string, string>): Promise<ServerProcess<{ grpcPort: number }>> {
  return ServerProcess.start("serve-echo", "serve-echo.ts", [JSON.stringify({ procedure, responseHex: Buffer.from(response).toString("hex"), headers })]);
}

export interface ClearingServerOptions {
  storeUrl?: string;
  natsUrl?: string;
  /** Write a V8 CPU profile of the clearing process (node --cpu-prof) into this folder. */
  profileDir?: string;
}

export function startClearingServer(options: ClearingServerOptions = {}): Promise<ServerProcess<ClearingServerInfo>> {
  return ServerProcess.start<ClearingServerInfo>("serve-clearing", "serve-clearing.ts", [], {
    env: { STORE_URL: options.storeUrl, NATS_URL: options.natsUrl },
    nodeArgs: options.profileDir ? ["--cpu-prof", "--cpu-prof-dir", options.profileDir] : [],
  });
}

interface Sample {
  cpus: os.CpuInfo[];
  server: ServerStats;
  /** Cumulative CPU ms of other processes working for the server (e.g. its PostgreSQL backends). */
  backendCpuMs: number;
}

export interface RunLoadOptions {
  /** Cumulative CPU ms of processes outside the server that work for it (PostgreSQL backends). */
  backendCpuMs?: () => Promise<number>;
}

function machineBusy(before: os.CpuInfo[], after: os.CpuInfo[]): number {
  let busy = 0;
  let total = 0;
  after.forEach((cpu, index) => {
    const was = before[index]!.times;
    const now = cpu.times;
    const idle = now.idle - was.idle;
    const all = now.user + now.nice + now.sys + now.irq + now.idle - (was.user + was.nice + was.sys + was.irq + was.idle);
    busy += all - idle;
    total += all;
  });
  return total > 0 ? busy / total : 0;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // awaited later; a rejection before then is not unhandled
  return { promise, resolve, reject };
}

const round = (value: number, digits = 3) => Number(value.toFixed(digits));

export interface LoadRun {
  loadgen: LoadgenResult;
  figures: MeasuredRow;
}

/** What runLoad samples: a ServerProcess, or several measured processes presented as one (B3's mesh). */
export interface StatsSource {
  stats(resetPeak?: boolean): Promise<ServerStats>;
}

/**
 * Runs one load generator against `server` and measures the server over the generator's
 * measured window (sampled when the generator reports the window's start and end).
 */
export async function runLoad(server: StatsSource, config: LoadgenConfig, options: RunLoadOptions = {}): Promise<LoadRun> {
  // The generator signs with node:crypto, as it always has: a partner's stack, and the same
  // baseline (B0) as earlier runs. The services sign with libsodium when it loads.
  const child = spawnTsx("loadgen.ts", [JSON.stringify(config)], { env: { CLEARMESH_ED25519: "node-crypto" } });
  const sample = (resetPeak: boolean): Promise<Sample> => {
    const cpus = os.cpus();
    return Promise.all([server.stats(resetPeak), options.backendCpuMs?.() ?? 0]).then(([stats, backendCpuMs]) => ({ cpus, server: stats, backendCpuMs }));
  };
  // Sampled the moment the generator reports each phase; awaited after it printed its results.
  const phases = { measure: deferred<Sample>(), done: deferred<Sample>() };
  child.on("message", (message: LoadgenMessage) => {
    if (message.type !== "phase") return;
    sample(message.phase === "measure").then(phases[message.phase].resolve, phases[message.phase].reject);
  });
  const timeoutMs = (config.warmupS + config.durationS) * 1000 + 60_000;
  const loadgen = await firstJsonLine<LoadgenResult>(child, `loadgen (${config.workload}, ${config.inFlight} in flight)`, timeoutMs);
  await waitForExit(child, 10_000);
  const phaseTimeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("loadgen did not report its window phases")), 15_000).unref());
  const [before, after] = await Promise.race([Promise.all([phases.measure.promise, phases.done.promise]), phaseTimeout]);
  const serverCpuMs = (after.server.cpuUserUs - before.server.cpuUserUs + after.server.cpuSystemUs - before.server.cpuSystemUs) / 1000;
  const serverSystemMs = (after.server.cpuSystemUs - before.server.cpuSystemUs) / 1000;
  const helperCpuMs = after.server.helperCpuMs - before.server.helperCpuMs;
  const machine = machineBusy(before.cpus, after.cpus);
  const backendCpuMs = Math.max(0, after.backendCpuMs - before.backendCpuMs);
  const ownCpuMs = serverCpuMs + helperCpuMs + backendCpuMs + loadgen.cpu_ms;
  const eluActive = after.server.eluActiveMs - before.server.eluActiveMs;
  const eluIdle = after.server.eluIdleMs - before.server.eluIdleMs;
  const calls = loadgen.calls;
  const mb = (bytes: number) => round(bytes / 1_048_576, 1);
  return {
    loadgen,
    figures: {
      in_flight: config.inFlight,
      throughput_per_s: loadgen.throughput_per_s,
      p50_ms: loadgen.p50_ms,
      p99_ms: loadgen.p99_ms,
      cpu_ms_per_call: calls > 0 ? round(serverCpuMs / calls, 4) : null,
      rss_mb: mb(after.server.peakRssBytes),
      calls,
      errors: loadgen.errors,
      duration_s: loadgen.duration_s,
      p90_ms: loadgen.p90_ms,
      max_ms: loadgen.max_ms,
      loadgen_cpu_ms_per_call: loadgen.cpu_ms_per_call,
      // The generator's own lateness, part of every latency it measures (bench/loadgen.ts).
      loadgen_event_loop_util: loadgen.event_loop_util,
      loadgen_loop_delay_p99_ms: loadgen.loop_delay_p99_ms,
      loadgen_loop_delay_max_ms: loadgen.loop_delay_max_ms,
      loadgen_gc_pause_share: loadgen.duration_s > 0 ? round(loadgen.gc_pause_ms / (loadgen.duration_s * 1000), 3) : null,
      loadgen_gc_pause_max_ms: loadgen.gc_pause_max_ms,
      // Calls in flight during one of those pauses, and the p99 of the others (bench/latencies.ts): how much of the tail is the generator's own.
      loadgen_calls_in_gc_pause_share: loadgen.calls_in_gc_pause_share,
      loadgen_p99_outside_gc_pause_ms: loadgen.p99_outside_gc_pause_ms,
      // The kernel's part of cpu_ms_per_call (socket I/O, fsync).
      cpu_system_ms_per_call: calls > 0 ? round(serverSystemMs / calls, 4) : null,
      // The event loop's own CPU; with server_event_loop_util it tells work from waiting for a core.
      main_thread_cpu_ms_per_call: calls > 0 && after.server.mainThreadCpuMs > 0 ? round((after.server.mainThreadCpuMs - before.server.mainThreadCpuMs) / calls, 4) : null,
      helper_cpu_ms_per_call: calls > 0 && helperCpuMs > 0 ? round(helperCpuMs / calls, 4) : null,
      db_cpu_ms_per_call: calls > 0 && options.backendCpuMs ? round(backendCpuMs / calls, 4) : null,
      server_cpu_util: round(serverCpuMs / (loadgen.duration_s * 1000), 3),
      server_event_loop_util: eluActive + eluIdle > 0 ? round(eluActive / (eluActive + eluIdle), 3) : null,
      machine_cpu_util: round(machine, 3),
      // Busy time of the machine not spent by this run's processes: other work disturbing it.
      other_cpu_util: round(Math.max(0, machine - ownCpuMs / (loadgen.duration_s * 1000 * after.cpus.length)), 3),
      rss_start_mb: mb(before.server.rssBytes),
      rss_end_mb: mb(after.server.rssBytes),
      heap_used_end_mb: mb(after.server.heapUsedBytes),
      heap_total_end_mb: mb(after.server.heapTotalBytes),
      external_end_mb: mb(after.server.externalBytes),
      warmup_errors: loadgen.warmup_errors,
      request_bytes: calls > 0 ? round(Number(loadgen.request_bytes ?? 0) / calls, 1) : null,
      response_bytes: calls > 0 ? round(Number(loadgen.response_bytes ?? 0) / calls, 1) : null,
      verified_responses: loadgen.verified ?? 0,
      ...Object.fromEntries(Object.entries(after.server.extra).map(([name, value]) => [`${name}_end`, value])),
      ...(loadgen.error_samples.length > 0 ? { error_samples: loadgen.error_samples } : {}),
    },
  };
}

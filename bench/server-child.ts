// The side of a measured server process that talks to the harness over the IPC channel:
// it answers `stats` with its own cumulative CPU time, event-loop use and memory, and stops
// cleanly on `stop`, on SIGTERM/SIGINT, or when the harness goes away.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import type { SettingsSchema } from "@clearmesh/runtime";
import type { Queryable } from "@clearmesh/store";

export type ServerRequest = { type: "stats"; id: number; resetPeak?: boolean } | { type: "stop" };

export interface ServerStats {
  /** process.cpuUsage(), cumulative, microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** performance.eventLoopUtilization(), cumulative, milliseconds. */
  eluActiveMs: number;
  eluIdleMs: number;
  rssBytes: number;
  /** V8 heap in use and reserved, and memory outside the heap (buffers, native), at the sample. */
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** Largest RSS sampled (every 100 ms) since the last resetPeak. */
  peakRssBytes: number;
  /** Cumulative CPU of the helper processes this server started (its nats-server), milliseconds. */
  helperCpuMs: number;
  /** Cumulative CPU of the main (event-loop) thread alone, milliseconds (Linux /proc; 0 elsewhere). */
  mainThreadCpuMs: number;
  /** Service-specific figures, e.g. outbox rows not yet published. */
  extra: Record<string, number>;
}

export type ServerReply = { type: "stats"; id: number; stats: ServerStats };

export interface ServerChildOptions {
  extra?: () => Promise<Record<string, number>>;
  /** Cumulative CPU milliseconds of helper processes (see childrenCpuMs). */
  helperCpuMs?: () => number;
  stop: () => Promise<void>;
}

/** Wires the IPC protocol; call once the server is listening. */
export function serveHarness(options: ServerChildOptions): void {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);
  sampler.unref();

  let stopping: Promise<void> | undefined;
  const stop = (code: number) => {
    stopping ??= (async () => {
      clearInterval(sampler);
      try {
        await options.stop();
      } catch (error) {
        process.stderr.write(`stop failed: ${(error as Error).message}\n`);
        code = 1;
      }
      process.exit(code);
    })();
  };

  process.on("message", (message: ServerRequest) => {
    if (message.type === "stop") return stop(0);
    if (message.type !== "stats") return;
    void (async () => {
      const memory = process.memoryUsage();
      const rss = memory.rss;
      peakRss = Math.max(peakRss, rss);
      const cpu = process.cpuUsage();
      const elu = performance.eventLoopUtilization();
      const stats: ServerStats = {
        cpuUserUs: cpu.user, cpuSystemUs: cpu.system, eluActiveMs: elu.active, eluIdleMs: elu.idle,
        rssBytes: rss, heapUsedBytes: memory.heapUsed, heapTotalBytes: memory.heapTotal, externalBytes: memory.external, peakRssBytes: peakRss, helperCpuMs: options.helperCpuMs?.() ?? 0, mainThreadCpuMs: mainThreadCpuMs(), extra: {},
      };
      if (message.resetPeak) peakRss = rss;
      stats.extra = (await options.extra?.().catch(() => ({}))) ?? {};
      process.send?.({ type: "stats", id: message.id, stats } satisfies ServerReply);
    })();
  });
  process.once("disconnect", () => stop(1));
  process.once("SIGTERM", () => stop(0));
  process.once("SIGINT", () => stop(0));
}

let clockTicksPerSecond: number | undefined;

function clockTicks(): number {
  clockTicksPerSecond ??= Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  return clockTicksPerSecond;
}

/** utime + stime of a /proc/<pid>/stat line, in clock ticks, and the parent pid. */
function readStat(pid: string | number): { ppid: number; ticks: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // exited meanwhile, or not Linux
  }
  // pid (comm) state ppid … utime(14) stime(15): fields after the closing parenthesis of comm.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/**
 * Cumulative CPU (user + system, ms) of this process's child processes that are still running,
 * read from /proc (Linux; 0 elsewhere). Used for the nats-server a measured server starts.
 */
export function childrenCpuMs(): number {
  return processCpuMs(childPids(process.pid));
}

/** The running processes whose parent is `parent`, read from /proc (Linux; none elsewhere). */
export function childPids(parent: number): number[] {
  if (process.platform !== "linux") return [];
  return fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry) && readStat(entry)?.ppid === parent).map(Number);
}

/**
 * Cumulative CPU (user + system, ms) of this process's main thread: its task id is the pid. The
 * rest of process.cpuUsage() is other threads (the verifier thread, or libuv's pool where
 * verification goes there; the SQLite writer; V8's helpers).
 */
export function mainThreadCpuMs(): number {
  if (process.platform !== "linux") return 0;
  return ((readStat(`${process.pid}/task/${process.pid}`)?.ticks ?? 0) * 1000) / clockTicks();
}

/** Cumulative CPU (user + system, ms) of the given processes (Linux; 0 elsewhere). */
export function processCpuMs(pids: readonly number[]): number {
  if (process.platform !== "linux") return 0;
  const ticks = pids.reduce((total, pid) => total + (readStat(pid)?.ticks ?? 0), 0);
  return (ticks * 1000) / clockTicks();
}

/**
 * serveHarness for a started service: reports its outbox backlog (and `extra`) and the CPU of
 * the helper processes it started; on stop, stops the service, then runs `cleanup`.
 */
export function serveRunningService(
  running: { store: Queryable; stop(): Promise<void> },
  options: { cleanup: () => Promise<unknown>; extra?: () => Promise<Record<string, number>> },
): void {
  serveHarness({
    helperCpuMs: childrenCpuMs,
    extra: async () => ({ outbox_pending: await outboxPending(running.store), ...(await options.extra?.()) }),
    stop: async () => {
      try {
        await running.stop();
      } finally {
        await options.cleanup();
      }
    },
  });
}

/** Outbox rows not yet deleted: the harness waits for 0 between runs, so none inherits publishing. */
export async function outboxPending(store: Queryable): Promise<number> {
  const [row] = await store.query<{ pending: unknown }>("SELECT COUNT(*) AS pending FROM outbox");
  return Number(row?.pending ?? 0);
}

/**
 * The service's own settings found in this process's environment (a `bench:pairs` variant, or a
 * setting exported in the shell), so that a measured service reads them as a deployed one would.
 * The serve-* scripts spread what the harness must set itself (data folder, ports, NATS URL, the
 * other services' addresses, keys) after these, so those always win.
 */
export function settingsFromEnvironment(schema: SettingsSchema, environment: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const found: Record<string, string> = {};
  for (const setting of Object.values(schema)) {
    const value = environment[setting.env];
    if (value !== undefined && value !== "") found[setting.env] = value;
  }
  return found;
}

/**
 * A measured service's environment, the same in every serve-* script: quiet logs, then the
 * service's own settings found in this process's environment (settingsFromEnvironment), then
 * free ports and a short shutdown grace, then what the harness must set itself (`own`: the data
 * folder, the NATS URL, the other services' addresses, keys), which always wins.
 */
export function serviceEnvironment(schema: SettingsSchema, own: Record<string, string>, environment: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { LOG_LEVEL: "warn", ...settingsFromEnvironment(schema, environment), GRPC_PORT: "0", HTTP_PORT: "0", SHUTDOWN_GRACE_MS: "2000", ...own };
}

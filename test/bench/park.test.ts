// The harness parks a case's servers between its rounds (bench/harness.ts ServerProcess.park):
// the server and its nats-server are stopped with SIGSTOP, so their timers take no CPU from the
// other cases' measurements, and continued before the next measurement or before they stop.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startClearingServer, type ServerProcess } from "../../bench/harness.js";
import type { ClearingServerInfo } from "../../bench/serve-clearing.js";
import { childPids } from "../../bench/server-child.js";

/** The state letter of /proc/<pid>/stat: "T" when stopped by a signal. */
function state(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0]!;
}

async function eventually(check: () => void, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe.runIf(process.platform === "linux")("parking a measured server between rounds", () => {
  let server: ServerProcess<ClearingServerInfo>;
  let pids: number[];

  beforeAll(async () => {
    server = await startClearingServer();
    const pid = server.child.pid!;
    pids = [pid, ...childPids(pid)];
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it("finds the server's nats-server among its children", () => {
    // Run from source, the server also has tsx's esbuild service as a child; it is parked too.
    const commands = pids.slice(1).map((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    expect(commands.some((command) => command.includes("nats-server")), commands.join("\n")).toBe(true);
  });

  it("stops the server and its helpers, and continues them so the server answers again", async () => {
    server.park();
    await eventually(() => {
      for (const pid of pids) expect(state(pid), `pid ${pid}`).toBe("T");
    });
    server.unpark();
    await eventually(() => {
      for (const pid of pids) expect(state(pid), `pid ${pid}`).not.toBe("T");
    });
    const stats = await server.stats();
    expect(stats.rssBytes).toBeGreaterThan(0);
    // Parking twice and continuing once leaves nothing stopped.
    server.park();
    server.park();
    server.unpark();
    await eventually(() => {
      for (const pid of pids) expect(state(pid), `pid ${pid}`).not.toBe("T");
    });
  });

  it("stops cleanly from parked: the server and its nats-server exit", async () => {
    server.park();
    await server.stop();
    expect(server.child.exitCode ?? server.child.signalCode).not.toBeNull();
    await eventually(() => {
      for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`) && state(pid) !== "Z", `pid ${pid} still there`).toBe(false);
    }, 10_000);
  }, 30_000);
});

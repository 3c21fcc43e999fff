import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Debian's package puts it here; otherwise PATH decides. */
const DEBIAN_NATS_SERVER = "/usr/sbin/nats-server";
const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_INTERVAL_MS = 25;
/** Lines of the server's own output kept for error messages. */
const OUTPUT_LINES_KEPT = 40;

export interface NatsServerOptions {
  /** Defaults to a free port chosen by the OS. */
  port?: number;
  /** JetStream store directory; defaults to a new temporary directory (removed by stop()). */
  storeDir?: string;
  /** Defaults to /usr/sbin/nats-server, else `nats-server` on PATH. */
  binary?: string;
  startTimeoutMs?: number;
  /** More nats-server arguments (a cluster's name and routes). */
  extraArgs?: readonly string[];
}

export interface TestNatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** Stops the server for good (and removes a temporary store). */
  stop(): Promise<void>;
  /** Stops the process (SIGTERM) but keeps port and store, for outage tests; restart() brings it back. */
  halt(): Promise<void>;
  /** Stops the server if it runs and starts it again on the same port with the same store. */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

function findBinary(): string {
  if (existsSync(DEBIAN_NATS_SERVER)) return DEBIAN_NATS_SERVER;
  const found = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" }).stdout.trim();
  if (found === "") throw new Error("nats-server not found: install it (apt-get install nats-server) or put it on PATH");
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Spawns nats-server with `args` and waits until it accepts connections on `port`. */
async function spawnNats(binary: string, args: readonly string[], port: number, startTimeoutMs: number): Promise<ChildProcess> {
  const output: string[] = [];
  const started = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  running.add(started);
  killAllOnExit();
  started.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    output.push(...chunk.split("\n").filter(Boolean));
    output.splice(0, Math.max(0, output.length - OUTPUT_LINES_KEPT));
  });
  started.once("exit", () => running.delete(started));
  const deadline = Date.now() + startTimeoutMs;
  while (!(await accepts(port))) {
    if (started.exitCode !== null || Date.now() > deadline) {
      started.kill("SIGKILL");
      throw new Error(`nats-server did not start on port ${port}:\n${output.join("\n")}`);
    }
    await delay(POLL_INTERVAL_MS);
  }
  return started;
}

/**
 * Starts `size` nats-servers with JetStream as one cluster on 127.0.0.1 (each with its own
 * temporary store). JetStream answers once the servers have elected a meta leader; callers
 * retry their first JetStream request until then.
 */
export async function startNatsCluster(size = 3, options: Omit<NatsServerOptions, "port" | "storeDir" | "extraArgs"> = {}): Promise<{ servers: TestNatsServer[]; urls: string[]; stop(): Promise<void> }> {
  const clusterName = `cm-test-${process.pid}`;
  const routePorts: number[] = [];
  for (let index = 0; index < size; index += 1) routePorts.push(await freePort());
  const routes = routePorts.map((routePort) => `nats://127.0.0.1:${routePort}`).join(",");
  const servers: TestNatsServer[] = [];
  try {
    for (let index = 0; index < size; index += 1) {
      servers.push(await startNatsServer({
        ...options,
        extraArgs: ["-n", `${clusterName}-${index + 1}`, "--cluster_name", clusterName, "--cluster", `nats://127.0.0.1:${routePorts[index]}`, "--routes", routes],
      }));
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return {
    servers,
    urls: servers.map((server) => server.url),
    async stop() {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

/** Starts nats-server with JetStream on 127.0.0.1 and waits until it accepts connections. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<TestNatsServer> {
  const binary = options.binary ?? findBinary();
  const port = options.port ?? (await freePort());
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), "clearmesh-nats-"));
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  let child: ChildProcess | undefined;

  async function launch(): Promise<void> {
    child = await spawnNats(binary, ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port), ...(options.extraArgs ?? [])], port, startTimeoutMs);
  }

  async function halt(): Promise<void> {
    const current = child;
    child = undefined;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once("exit", () => resolve()));
    current.kill("SIGTERM");
    const timer = setTimeout(() => current.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    async stop() {
      await halt();
      if (ownStore) rmSync(storeDir, { recursive: true, force: true });
    },
    halt,
    async restart() {
      await halt();
      await launch();
    },
  };
}

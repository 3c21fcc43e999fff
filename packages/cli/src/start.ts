// `npm start` / `clearmesh start`: the whole mesh on one machine on embedded defaults.
// Creates keys on first run, uses a running NATS or starts nats-server, starts clearing,
// registers the participants of ARCHITECTURE.md "One machine", starts the other services,
// prints the endpoints, and stops everything cleanly on Ctrl-C.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClearingService, ParticipantKind } from "@clearmesh/contracts";
import { DEFAULT_PORTS, SERVICE_NAMES, createSignedClient, ensureKeyFiles, type ServiceName } from "@clearmesh/runtime";
import { startLocalSinks, type LocalSinks } from "@clearmesh/notifier";
import type { SigningKey } from "@clearmesh/trust";

/**
 * V8 flags every service process runs with (the Dockerfile's CMD and the bench use the same;
 * docs/performance.md "Memory"):
 * - young-generation semi-spaces capped at 4 MB instead of V8's 16 MB, which under load kept
 *   about 35 MB more resident for no throughput measured;
 * - the old generation grows by half of what survived a full collection before the next one,
 *   where V8 lets a fast-collecting heap grow up to fourfold: under load clearing reserved
 *   80–95 MB of heap for about 25 MB of live objects. About 60 MB less resident per service,
 *   throughput within the noise of paired runs.
 */
export const SERVICE_NODE_FLAGS = ["--max-semi-space-size=4", "--heap-growing-percent=50"] as const;

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const STARTUP_TIMEOUT_MS = 60_000;

/** The participants one machine runs (ARCHITECTURE.md "One machine"). */
export const ONE_MACHINE_PARTICIPANTS: ReadonlyArray<{ participantId: string; name: string; kind: ParticipantKind; currencies: string[] }> = [
  { participantId: "bank-adapter", name: "Bank adapter service", kind: ParticipantKind.SERVICE, currencies: [] },
  { participantId: "wallet", name: "Wallet service", kind: ParticipantKind.SERVICE, currencies: [] },
  { participantId: "e-commerce-connector", name: "E-commerce connector service", kind: ParticipantKind.SERVICE, currencies: [] },
  { participantId: "notifier", name: "Notifier service", kind: ParticipantKind.SERVICE, currencies: [] },
  { participantId: "bank-a", name: "Bank A", kind: ParticipantKind.BANK, currencies: ["EUR", "USD"] },
  { participantId: "bank-b", name: "Bank B", kind: ParticipantKind.BANK, currencies: ["EUR", "USD"] },
  { participantId: "wallet-a", name: "Wallet provider A", kind: ParticipantKind.WALLET_PROVIDER, currencies: ["EUR", "USD"] },
  { participantId: "wallet-b", name: "Wallet provider B", kind: ParticipantKind.WALLET_PROVIDER, currencies: ["EUR", "USD"] },
  { participantId: "acquirer-a", name: "Acquirer A", kind: ParticipantKind.MERCHANT_ACQUIRER, currencies: ["EUR", "USD"] },
];

export interface MeshOptions {
  dataDir?: string;
  environment?: Record<string, string | undefined>;
  /** Where progress lines go (stdout by default). */
  print?: (line: string) => void;
}

export interface RunningMesh {
  ports: Record<ServiceName, { grpc: number; http: number }>;
  natsUrl: string;
  stop(): Promise<void>;
  /** Resolves when a service exits on its own (the mesh is then broken). */
  failed: Promise<string>;
}

/** Environment variable that overrides a service's port, e.g. BANK_ADAPTER_GRPC_PORT. */
export function portVariable(service: ServiceName, kind: "grpc" | "http"): string {
  return `${service.toUpperCase().replaceAll("-", "_")}_${kind.toUpperCase()}_PORT`;
}

/** The last lines of a service's log, so a failed start says why without the file (which may be gone). */
function logTail(file: string, lines = 12): string {
  try {
    const tail = fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    return tail ? `\n--- last lines of ${path.basename(file)} ---\n${tail}` : "";
  } catch {
    return "";
  }
}

export async function startMesh(options: MeshOptions = {}): Promise<RunningMesh> {
  const environment = options.environment ?? process.env;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = path.resolve(options.dataDir ?? environment.CLEARMESH_DATA_DIR ?? "./data");
  const keysDir = path.join(dataDir, "keys");
  fs.mkdirSync(path.join(dataDir, "logs"), { recursive: true });
  const keys = new Map<string, SigningKey>();
  for (const participantId of ["operator", ...SERVICE_NAMES, ...ONE_MACHINE_PARTICIPANTS.map((entry) => entry.participantId)]) {
    keys.set(participantId, ensureKeyFiles(keysDir, participantId));
  }
  ensureDataKeys(path.join(keysDir, "data-keys"));
  ensureDataKeys(path.join(keysDir, "notify-data-keys"));
  const ports = Object.fromEntries(SERVICE_NAMES.map((service) => [service, {
    grpc: Number(environment[portVariable(service, "grpc")] ?? DEFAULT_PORTS[service].grpc),
    http: Number(environment[portVariable(service, "http")] ?? DEFAULT_PORTS[service].http),
  }])) as Record<ServiceName, { grpc: number; http: number }>;

  const children: ChildProcess[] = [];
  const nats = await ensureNats(environment.NATS_URL ?? "nats://127.0.0.1:4222", dataDir, print, environment.NATS_SERVER_BIN);
  if (nats.process) children.push(nats.process);
  let stopping = false;
  let sinks: LocalSinks | undefined;
  let reportFailure!: (name: string) => void;
  const failed = new Promise<string>((resolve) => { reportFailure = resolve; });
  const stop = async () => {
    stopping = true;
    await Promise.all(children.reverse().map(stopChild));
    await sinks?.stop();
  };
  const launch = (service: ServiceName) => {
    const sinkUrls = { SMTP_URL: environment.SMTP_URL || sinks?.smtpUrl, SMS_GATEWAY_URL: environment.SMS_GATEWAY_URL || sinks?.smsGatewayUrl };
    const child = spawnService(service, { ...environment, ...sinkUrls, CLEARMESH_DATA_DIR: dataDir, NATS_URL: nats.url, GRPC_PORT: String(ports[service].grpc), HTTP_PORT: String(ports[service].http), CLEARING_ADDRESS: `127.0.0.1:${ports.clearing.grpc}`, BANK_ADAPTER_ADDRESS: `127.0.0.1:${ports["bank-adapter"].grpc}`, COMMERCE_ADDRESS: `127.0.0.1:${ports["e-commerce-connector"].grpc}` }, dataDir);
    children.push(child);
    child.once("exit", (code) => {
      if (stopping) return;
      const logFile = path.join(dataDir, "logs", `${service}.log`);
      reportFailure(`${service} exited with code ${code}; see ${logFile}${logTail(logFile)}`);
    });
  };
  try {
    sinks = await startSinks(environment, dataDir);
    if (sinks) print(`local sinks: mail ${sinks.smtpUrl} -> ${sinks.mail.dir}, SMS ${sinks.smsGatewayUrl} -> ${sinks.sms.dir}`);
    launch("clearing");
    await waitHealthy("clearing", ports.clearing.http, failed);
    await registerParticipants(`127.0.0.1:${ports.clearing.grpc}`, keys);
    for (const service of SERVICE_NAMES.filter((name) => name !== "clearing")) launch(service);
    await Promise.all(SERVICE_NAMES.map((service) => waitHealthy(service, ports[service].http, failed)));
  } catch (error) {
    await stop();
    throw error;
  }
  printEndpoints(print, ports, nats.url, dataDir);
  return { ports, natsUrl: nats.url, stop, failed };
}

/** The notifier's local mail and SMS sinks, unless SMTP_URL and SMS_GATEWAY_URL both point elsewhere (docs/notifier.md). */
async function startSinks(environment: Record<string, string | undefined>, dataDir: string): Promise<LocalSinks | undefined> {
  if (environment.SMTP_URL && environment.SMS_GATEWAY_URL) return undefined;
  const port = (value: string | undefined) => (value ? Number(value) : undefined);
  return startLocalSinks({
    dataDir, smtpPort: port(environment.SMTP_SINK_PORT), smsPort: port(environment.SMS_SINK_PORT),
    freePortIfTaken: !environment.SMTP_SINK_PORT && !environment.SMS_SINK_PORT,
  });
}

/** A data key ring for sealing (`k1:<64 hex>`), created once with mode 0600. */
export function ensureDataKeys(file: string): void {
  if (fs.existsSync(file)) return;
  fs.writeFileSync(file, `k1:${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
}

async function registerParticipants(address: string, keys: ReadonlyMap<string, SigningKey>): Promise<void> {
  const clearingKey = keys.get("clearing")!;
  const client = createSignedClient(ClearingService, {
    address, signer: keys.get("operator")!, expectedResponder: "clearing",
    responseKeys: (participantId, keyId) => (participantId === "clearing" && keyId === clearingKey.keyId ? clearingKey.publicKey : undefined),
  });
  try {
    for (const participant of ONE_MACHINE_PARTICIPANTS) {
      const key = keys.get(participant.participantId)!;
      // Idempotent: the same registration on a later start returns the participant as it is.
      await client.registerParticipant({ ...participant, keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
    }
  } finally {
    client.close();
  }
}

function spawnService(service: ServiceName, environment: Record<string, string | undefined>, dataDir: string): ChildProcess {
  const log = fs.openSync(path.join(dataDir, "logs", `${service}.log`), "a");
  return spawn(process.execPath, [...SERVICE_NODE_FLAGS, "--import", "tsx", path.join(repositoryRoot, "services", service, "src", "main.ts")], {
    cwd: repositoryRoot, env: environment as NodeJS.ProcessEnv, stdio: ["ignore", log, log],
  });
}

async function waitHealthy(service: ServiceName, httpPort: number, failed: Promise<string>): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let failure: string | undefined;
  void failed.then((reason) => { failure = reason; });
  while (Date.now() < deadline) {
    if (failure) throw new Error(failure);
    try {
      const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${service} did not become healthy within ${STARTUP_TIMEOUT_MS / 1000} s`);
}

/** Uses the NATS at url when it answers; otherwise starts nats-server on that port with its store in the data folder. */
async function ensureNats(url: string, dataDir: string, print: (line: string) => void, binaryOverride?: string): Promise<{ url: string; process?: ChildProcess }> {
  const { hostname, port } = new URL(url);
  const natsPort = Number(port || 4222);
  if (await reachable(hostname, natsPort)) return { url };
  const binary = binaryOverride ? (isExecutable(binaryOverride) ? binaryOverride : undefined) : findNatsServer();
  if (!binary) {
    throw new Error(`NATS is not reachable at ${url} and nats-server is not installed.\n` +
      "Install it (Debian/Ubuntu: apt-get install nats-server), or start one and point NATS_URL at it.");
  }
  const storeDir = path.join(dataDir, "nats");
  fs.mkdirSync(storeDir, { recursive: true });
  print(`starting ${binary} on 127.0.0.1:${natsPort} (JetStream store ${storeDir})`);
  const log = fs.openSync(path.join(dataDir, "logs", "nats-server.log"), "a");
  const child = spawn(binary, ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(natsPort)], { stdio: ["ignore", log, log] });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await reachable("127.0.0.1", natsPort)) return { url: `nats://127.0.0.1:${natsPort}`, process: child };
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`nats-server did not start on port ${natsPort}; see ${path.join(dataDir, "logs", "nats-server.log")}`);
}

/** nats-server on PATH, or where Debian and hand installs put it. NATS_SERVER_BIN names it explicitly. */
function findNatsServer(): string | undefined {
  const candidates = [...(process.env.PATH ?? "").split(path.delimiter).map((dir) => path.join(dir, "nats-server")), "/usr/sbin/nats-server", "/usr/local/bin/nats-server"];
  return candidates.find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 1_000 });
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => { socket.destroy(); resolve(false); });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

function printEndpoints(print: (line: string) => void, ports: Record<ServiceName, { grpc: number; http: number }>, natsUrl: string, dataDir: string): void {
  print("clearmesh is running:");
  for (const service of SERVICE_NAMES) {
    print(`  ${service.padEnd(21)} gRPC 127.0.0.1:${ports[service].grpc}   HTTP http://127.0.0.1:${ports[service].http}`);
  }
  print(`  NATS ${natsUrl}; data, keys and logs in ${dataDir}`);
  print("Try: npx buf curl --protocol grpc --http2-prior-knowledge --list-services http://127.0.0.1:" + ports.clearing.grpc);
  print("Press Ctrl-C to stop.");
}

/** The `start` command: runs until Ctrl-C; exits non-zero when the mesh cannot start or a service dies. */
export async function runMesh(options: { dataDir?: string } = {}): Promise<void> {
  let mesh: RunningMesh;
  try {
    mesh = await startMesh(options);
  } catch (error) {
    process.stderr.write(`clearmesh: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const shutdown = async (code: number) => {
    process.stdout.write("stopping…\n");
    await mesh.stop();
    process.exit(code);
  };
  process.once("SIGINT", () => void shutdown(0));
  process.once("SIGTERM", () => void shutdown(0));
  const reason = await mesh.failed;
  process.stderr.write(`clearmesh: ${reason}\n`);
  await shutdown(1);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

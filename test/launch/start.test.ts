// `npm start` as a user runs it: a fresh data folder, no NATS running (it starts nats-server
// itself), every service on its own port, reflection and health on each, a signed call with
// the README's CLI example, and a clean stop on Ctrl-C (SIGINT to the process group).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICE_NAMES, type ServiceName } from "@clearmesh/runtime";
import { testPort } from "../support/ports.js";
import { portVariable } from "../../packages/cli/src/start.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
const buf = path.join(root, "node_modules/.bin/buf");

const freePort = testPort;

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("error", () => resolve(false));
  });
}

function waitForOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${text}"; output so far:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(text)) { clearTimeout(timer); resolve(output); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before "${text}":\n${output}`)); });
  });
}

describe("npm start", () => {
  let dataDir: string;
  let child: ChildProcess;
  let natsPort: number;
  const ports = {} as Record<ServiceName, { grpc: number; http: number }>;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-start-"));
    natsPort = await freePort();
    const environment: Record<string, string> = { CLEARMESH_DATA_DIR: dataDir, NATS_URL: `nats://127.0.0.1:${natsPort}` };
    for (const service of SERVICE_NAMES) {
      ports[service] = { grpc: await freePort(), http: await freePort() };
      environment[portVariable(service, "grpc")] = String(ports[service].grpc);
      environment[portVariable(service, "http")] = String(ports[service].http);
    }
    child = spawn("npm", ["start"], { cwd: root, env: { ...process.env, ...environment }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    await waitForOutput(child, "Press Ctrl-C to stop.", 90_000);
  }, 120_000);

  afterAll(async () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("created every key file on first run (seed 0600 as 64 hex, public key beside it)", () => {
    for (const participantId of ["operator", ...SERVICE_NAMES, "bank-a", "bank-b", "wallet-a", "wallet-b", "acquirer-a"]) {
      const keyFile = path.join(dataDir, "keys", `${participantId}.key`);
      expect(fs.statSync(keyFile).mode & 0o777, keyFile).toBe(0o600);
      expect(fs.readFileSync(keyFile, "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
      expect(fs.readFileSync(path.join(dataDir, "keys", `${participantId}.pub`), "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(fs.existsSync(path.join(dataDir, "nats"))).toBe(true);
  });

  it("lists each port's own service, health and reflection, and answers SERVING", async () => {
    const ownService: Record<ServiceName, string> = {
      clearing: "clearmesh.clearing.v1.ClearingService", "bank-adapter": "clearmesh.bank.v1.BankAdapterService",
      wallet: "clearmesh.wallet.v1.WalletService", "e-commerce-connector": "clearmesh.commerce.v1.CommerceService",
      notifier: "clearmesh.notify.v1.NotifierService",
    };
    for (const service of SERVICE_NAMES) {
      const base = `http://127.0.0.1:${ports[service].grpc}`;
      const listed = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-services", base], { cwd: root, timeout: 20_000 });
      expect(listed.stdout.trim().split("\n").sort()).toEqual([
        ownService[service], "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
      ].sort());
      const health = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", `${base}/grpc.health.v1.Health/Check`], { cwd: root, timeout: 20_000 });
      expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });
    }
  }, 120_000);

  it("takes the README's signed CLI calls: fund bank-a, cap it, pay bank-b", async () => {
    const call = (procedure: string, json: string, signer: string) => run(process.execPath, [
      "--import", "tsx", "packages/cli/src/bin.ts", "call", `127.0.0.1:${ports.clearing.grpc}`, procedure, json, "--as", signer, "--data-dir", dataDir,
    ], { cwd: root, timeout: 30_000 });
    await call("clearmesh.clearing.v1.ClearingService/DepositLiquidity", '{"requestId":"readme-fund-1","participantId":"bank-a","amount":{"currency":"USD","amountMinor":"1000000"}}', "operator");
    await call("clearmesh.clearing.v1.ClearingService/SetNetDebitCap", '{"requestId":"readme-cap-1","participantId":"bank-a","cap":{"currency":"USD","amountMinor":"1000000"}}', "operator");
    const { stdout } = await run(process.execPath, [
      "--import", "tsx", "packages/cli/src/bin.ts", "call", `127.0.0.1:${ports.clearing.grpc}`,
      "clearmesh.clearing.v1.ClearingService/CreateTransfer",
      '{"transferId":"t-readme-1","payerId":"bank-a","payeeId":"bank-b","amount":{"currency":"USD","amountMinor":"1250"}}',
      "--as", "bank-a", "--data-dir", dataDir,
    ], { cwd: root, timeout: 30_000 });
    expect(JSON.parse(stdout)).toMatchObject({ transferId: "t-readme-1", state: "TRANSFER_STATE_COMMITTED", amount: { currency: "USD", amountMinor: "1250" } });
  }, 60_000);

  it("stops everything cleanly on Ctrl-C, the nats-server it started included", async () => {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // Ctrl-C in a terminal signals the whole foreground process group: npm, the launcher, the services.
    process.kill(-child.pid!, "SIGINT");
    await exited;
    const ports_ = [...SERVICE_NAMES.flatMap((service) => [ports[service].grpc, ports[service].http]), natsPort];
    const deadline = Date.now() + 20_000;
    let open = ports_;
    while (open.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      open = (await Promise.all(ports_.map(async (port) => ((await isListening(port)) ? port : undefined)))).filter((port) => port !== undefined);
    }
    expect(open).toEqual([]);
    for (const service of SERVICE_NAMES) {
      expect(fs.readFileSync(path.join(dataDir, "logs", `${service}.log`), "utf8"), service).toContain('"msg":"stopped"');
    }
  }, 60_000);
});

describe("npm start without NATS", () => {
  it("says NATS is neither reachable nor installed, and how to fix it, and exits non-zero", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-nonats-"));
    const environment = { ...process.env, CLEARMESH_DATA_DIR: dataDir, NATS_URL: `nats://127.0.0.1:${await freePort()}`, NATS_SERVER_BIN: "/nonexistent/nats-server" };
    const failure = await run(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", "start"], { cwd: root, env: environment, timeout: 30_000 })
      .then(() => undefined, (error: { code: number; stderr: string }) => error);
    fs.rmSync(dataDir, { recursive: true, force: true });
    expect(failure?.code).not.toBe(0);
    expect(failure?.stderr).toContain("not reachable");
    expect(failure?.stderr).toContain("apt-get install nats-server");
  }, 60_000);
});

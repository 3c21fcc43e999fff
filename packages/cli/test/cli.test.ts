// The `clearmesh` command run as a child process (as a user runs it), against a real clearing
// started in this process. Spawning tsx costs about a second, so independent commands run in
// parallel and each spawn checks as much as it can.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { startClearing, clearingSettingsSchema } from "@clearmesh/clearing";
import { loadSettings, type RunningService } from "@clearmesh/runtime";
import { fromHex, parseSeedHex, publicKeyFromSeed, toBase64, toHex } from "@clearmesh/trust";
import {
  EXIT_USAGE, UsageError, clearmeshServices, formatGrpcurlHeaders, parseHeaderOptions, resolveDataDir, resolveProcedure, responderOf,
  runCli, type CliIo,
} from "../src/index.js";

const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url));
const sharedDirectory = process.env.CLEARMESH_SHARED_DIR ?? path.join(repositoryRoot, "..", "shared");
const CREATE_TRANSFER = "/clearmesh.clearing.v1.ClearingService/CreateTransfer";
const VECTOR_REQUEST_JSON = '{"transferId":"t-1","payerId":"bank-a","payeeId":"bank-b","amount":{"currency":"USD","amountMinor":"1250"}}';

interface RpcRequestVector {
  seed: string;
  public_key: string;
  procedure: string;
  "cm-participant": string;
  "cm-key-id": string;
  "cm-timestamp": string;
  "cm-nonce": string;
  request_bytes_hex: string;
  "cm-signature": string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the command line in this process (no spawn) for cases where the exit code path is already covered by a child process. */
async function clearmeshInProcess(...args: string[]): Promise<Run> {
  const output = { stdout: "", stderr: "" };
  const io: CliIo = { out: (text) => void (output.stdout += text), err: (text) => void (output.stderr += text) };
  const code = await runCli(args, io);
  return { code, ...output };
}

function clearmesh(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const environment = { ...process.env };
    delete environment.CLEARMESH_DATA_DIR;
    const child = spawn(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", ...args], { cwd: repositoryRoot, env: environment, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const vector = (JSON.parse(fs.readFileSync(path.join(sharedDirectory, "vectors", "clearmesh-signatures.json"), "utf8")) as { rpc_request: RpcRequestVector }).rpc_request;

describe("clearmesh CLI (in process)", () => {
  it("resolves procedures in every spelling and names their responder", () => {
    for (const spelling of [CREATE_TRANSFER, CREATE_TRANSFER.slice(1), "clearmesh.clearing.v1.ClearingService.CreateTransfer"]) {
      expect(resolveProcedure(spelling).procedure).toBe(CREATE_TRANSFER);
    }
    expect(Object.fromEntries(clearmeshServices().map((service) => [service.typeName, responderOf(service)]))).toEqual({
      "clearmesh.clearing.v1.ClearingService": "clearing",
      "clearmesh.bank.v1.BankAdapterService": "bank-adapter",
      "clearmesh.wallet.v1.WalletService": "wallet",
      "clearmesh.commerce.v1.CommerceService": "e-commerce-connector",
      "clearmesh.notify.v1.NotifierService": "notifier",
    });
    expect(() => resolveProcedure("clearmesh.clearing.v1.ClearingService/createtransfer")).toThrow(/did you mean CreateTransfer/);
    expect(() => resolveProcedure("nonsense")).toThrow(UsageError);
  });

  it("formats headers for grpcurl and parses --header values", () => {
    expect(formatGrpcurlHeaders({ "cm-participant": "bank-a", "x-odd": "it's" })).toBe("-H 'cm-participant: bank-a'\n-H 'x-odd: it'\\''s'");
    expect(parseHeaderOptions(["Authorization: Bearer abc"], false)).toEqual({ authorization: "Bearer abc" });
    expect(() => parseHeaderOptions(["cm-nonce: x"], true)).toThrow(UsageError);
    expect(resolveDataDir(undefined, { CLEARMESH_DATA_DIR: "/srv/mesh" })).toBe("/srv/mesh");
    expect(resolveDataDir("/a", { CLEARMESH_DATA_DIR: "/srv/mesh" })).toBe("/a");
    expect(resolveDataDir(undefined, {})).toBe(path.resolve("data"));
  });
});

describe("clearmesh CLI (child processes, real clearing)", () => {
  let dataDir: string;
  let nats: TestNatsServer;
  let clearing: RunningService;
  let address: string;
  let keysGenerate: Run;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-cli-"));
    [keysGenerate, nats] = await Promise.all([clearmesh("keys", "generate", "operator", "clearing", "bank-a", "bank-b", "--data-dir", dataDir), startNatsServer()]);
    expect(keysGenerate.stderr).toBe("");
    expect(keysGenerate.code).toBe(0);
    clearing = await startClearing(loadSettings(clearingSettingsSchema(), {
      CLEARMESH_DATA_DIR: dataDir, NATS_URL: nats.url, GRPC_PORT: "0", HTTP_PORT: "0", LOG_LEVEL: "warn",
    }));
    await clearing.ready;
    address = `127.0.0.1:${clearing.grpcPort}`;
  });

  afterAll(async () => {
    await clearing?.stop();
    await nats?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("keys generate writes a 0600 seed and its public key, never prints the seed, refuses to overwrite", async () => {
    const keysDir = path.join(dataDir, "keys");
    for (const id of ["operator", "clearing", "bank-a", "bank-b"]) {
      const keyFile = path.join(keysDir, `${id}.key`);
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      const seedHex = fs.readFileSync(keyFile, "utf8").trim();
      const publicHex = toHex(publicKeyFromSeed(parseSeedHex(seedHex, keyFile)));
      expect(fs.readFileSync(path.join(keysDir, `${id}.pub`), "utf8").trim()).toBe(publicHex);
      expect(keysGenerate.stdout).toContain(publicHex);
      expect(keysGenerate.stdout).toContain(`${id}-1`);
      expect(keysGenerate.stdout).not.toContain(seedHex);
    }
    const before = fs.readFileSync(path.join(keysDir, "bank-a.key"), "utf8");
    const refused = await clearmesh("keys", "generate", "bank-a", "--data-dir", dataDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bank-a\.key exists.*--force/);
    expect(fs.readFileSync(path.join(keysDir, "bank-a.key"), "utf8")).toBe(before);
    const forced = await clearmeshInProcess("--data-dir", dataDir, "keys", "generate", "spare", "--force");
    expect(forced.code).toBe(0);
    const replaced = await clearmeshInProcess("--data-dir", dataDir, "keys", "generate", "spare", "--force");
    expect(replaced.code).toBe(0);
    expect(replaced.stdout).not.toBe(forced.stdout);
    expect(fs.statSync(path.join(keysDir, "spare.key")).mode & 0o777).toBe(0o600);
  });

  it("participant add registers with the operator's key and participant show reads it back", async () => {
    const added = await Promise.all(["bank-a", "bank-b"].map((id) =>
      clearmesh("participant", "add", id, "--name", `Bank ${id.slice(-1).toUpperCase()}`, "--kind", "bank", "--currency", "USD", "--currency", "EUR", "--clearing", address, "--data-dir", dataDir)));
    for (const [index, run] of added.entries()) {
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      const id = ["bank-a", "bank-b"][index]!;
      const participant = JSON.parse(run.stdout) as { participantId: string; kind: string; currencies: string[]; keys: Array<{ keyId: string; publicKey: string; status: string }> };
      const publicKey = fromHex(fs.readFileSync(path.join(dataDir, "keys", `${id}.pub`), "utf8").trim());
      expect(participant).toMatchObject({ participantId: id, kind: "PARTICIPANT_KIND_BANK", currencies: ["EUR", "USD"] });
      expect(participant.keys).toEqual([expect.objectContaining({ keyId: `${id}-1`, publicKey: toBase64(publicKey), status: "KEY_STATUS_ACTIVE" })]);
    }
    const shown = await clearmesh("participant", "show", "bank-b", "--as", "bank-a", "--clearing", address, "--data-dir", dataDir);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ participantId: "bank-b", name: "Bank B", status: "PARTICIPANT_STATUS_ACTIVE" });
  });

  it("call makes a signed CreateTransfer, and a payer that is not the signer gets PERMISSION_DENIED", async () => {
    const request = (transferId: string, payerId: string, payeeId: string) =>
      JSON.stringify({ transferId, payerId, payeeId, amount: { currency: "USD", amountMinor: "1250" } });
    // The operator prefunds bank-a and gives it a cap, with the same command.
    const funded = await clearmesh("call", address, "clearmesh.clearing.v1.ClearingService/DepositLiquidity",
      JSON.stringify({ requestId: "cli-fund-1", participantId: "bank-a", amount: { currency: "USD", amountMinor: "100000" } }), "--as", "operator", "--data-dir", dataDir);
    expect(funded.stderr).toBe("");
    expect(JSON.parse(funded.stdout)).toMatchObject({ participantId: "bank-a", currency: "USD", settlementBalanceMinor: "100000" });
    const capped = await clearmesh("call", address, "clearmesh.clearing.v1.ClearingService/SetNetDebitCap",
      JSON.stringify({ requestId: "cli-cap-1", participantId: "bank-a", cap: { currency: "USD", amountMinor: "100000" } }), "--as", "operator", "--data-dir", dataDir);
    expect(JSON.parse(capped.stdout)).toMatchObject({ netDebitCapMinor: "100000" });
    const [committed, denied] = await Promise.all([
      clearmesh("call", address, CREATE_TRANSFER, request("cli-t-1", "bank-a", "bank-b"), "--as", "bank-a", "--data-dir", dataDir),
      clearmesh("call", address, CREATE_TRANSFER.slice(1), request("cli-t-2", "bank-b", "bank-a"), "--as", "bank-a", "--data-dir", dataDir),
    ]);
    expect(committed.stderr).toBe("");
    expect(committed.code).toBe(0);
    expect(JSON.parse(committed.stdout)).toMatchObject({ transferId: "cli-t-1", payerId: "bank-a", state: "TRANSFER_STATE_COMMITTED", amount: { currency: "USD", amountMinor: "1250" } });
    expect(denied.code).toBe(1);
    expect(denied.stdout).toBe("");
    expect(denied.stderr).toMatch(/^ERROR PERMISSION_DENIED PERMISSION_DENIED: /);
  });

  it("sign reproduces the shared rpc_request vector; unknown procedures are usage errors", async () => {
    const vectorDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-cli-vector-"));
    try {
      fs.mkdirSync(path.join(vectorDir, "keys"));
      fs.writeFileSync(path.join(vectorDir, "keys", "bank-a.key"), `${vector.seed}\n`, { mode: 0o600 });
      const fixed = ["--as", vector["cm-participant"], "--nonce", vector["cm-nonce"], "--timestamp", vector["cm-timestamp"], "--data-dir", vectorDir];
      const [text, unknown] = await Promise.all([
        clearmesh("sign", vector.procedure, VECTOR_REQUEST_JSON, ...fixed),
        clearmesh("sign", "/clearmesh.clearing.v1.ClearingService/MakeTransfer", "{}", ...fixed),
      ]);
      const json = await clearmeshInProcess("sign", vector.procedure.slice(1), VECTOR_REQUEST_JSON, ...fixed, "--format", "json");
      const expectedHeaders = {
        "cm-participant": vector["cm-participant"],
        "cm-key-id": vector["cm-key-id"],
        "cm-timestamp": vector["cm-timestamp"],
        "cm-nonce": vector["cm-nonce"],
        "cm-signature": vector["cm-signature"],
      };
      expect(text.code).toBe(0);
      expect(text.stdout).toBe(`${Object.entries(expectedHeaders).map(([name, value]) => `-H '${name}: ${value}'`).join("\n")}\n`);
      expect(text.stderr).toMatch(/grpcurl encodes the JSON request/);
      expect(text.stderr).not.toContain(vector.seed);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ headers: expectedHeaders, request_base64: toBase64(fromHex(vector.request_bytes_hex)) });
      expect(unknown.code).toBe(EXIT_USAGE);
      expect(unknown.stdout).toBe("");
      expect(unknown.stderr).toContain('unknown method "MakeTransfer"');
      expect(unknown.stderr).toContain("/clearmesh.clearing.v1.ClearingService/CreateTransfer");
    } finally {
      fs.rmSync(vectorDir, { recursive: true, force: true });
    }
  });
});

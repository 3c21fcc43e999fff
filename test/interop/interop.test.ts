// Runs the independent Python interop client (test/interop/clearmesh_interop.py) against a real
// clearing service over a real port, with real NATS: the client knows nothing of the project but
// PROTOCOL.md, so passing it means the wire contract holds for partners in other languages.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { ClearingService, ParticipantKind } from "@clearmesh/contracts";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { createSignedClient, loadSettings, loadSigningKey, writeKeyFiles, type RunningService } from "@clearmesh/runtime";
import { generateSeed, setSignatureVerification, signatureVerification, toHex } from "@clearmesh/trust";

/** Debian's python3-grpcio, python3-nacl and python3-protobuf install for this interpreter only. */
const PYTHON = "/usr/bin/python3";
const CLIENT = fileURLToPath(new URL("./clearmesh_interop.py", import.meta.url));
/** PROTOCOL.md's worked examples, beside the repository (as the trust package's vector tests read them). */
const SHARED_DIR = process.env.CLEARMESH_SHARED_DIR ?? fileURLToPath(new URL("../../../shared/", import.meta.url));
const SIGNATURE_VECTORS = path.join(SHARED_DIR, "vectors", "clearmesh-signatures.json");
const CLIENT_TIMEOUT_MS = 45_000;
const PARTICIPANTS = ["operator", "clearing", "bank-a", "bank-b"] as const;
const REVOKED_KEY_ID = "bank-a-2";

interface ClientRun {
  code: number | null;
  output: string;
}

/** Fails (never skips) when the Debian packages are missing: CI installs them. */
function requirePythonPackages(): void {
  const probe = spawnSync(PYTHON, ["-c", "import grpc, nacl.signing, google.protobuf"], { encoding: "utf8", env: pythonEnvironment() });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import grpc, nacl and google.protobuf: install the Debian packages ` +
      `python3-grpcio python3-nacl python3-protobuf (apt-get install python3-grpcio python3-nacl python3-protobuf).\n` +
      `${probe.error?.message ?? probe.stderr}`,
    );
  }
}

/** The system interpreter must not pick up another Python's modules (pyenv, virtualenvs). */
function pythonEnvironment(): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = { ...process.env, PYTHONNOUSERSITE: "1", PYTHONDONTWRITEBYTECODE: "1" };
  delete environment.PYTHONPATH;
  delete environment.PYTHONHOME;
  return environment;
}

/** Asynchronous on purpose: the server answers from this same process while the client runs. */
function runClient(args: readonly string[]): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [CLIENT, ...args], { env: pythonEnvironment(), stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), CLIENT_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("independent Python interop client", () => {
  let dataDir: string;
  let nats: TestNatsServer | undefined;
  let clearing: RunningService | undefined;
  let clientArgs: string[];

  beforeAll(async () => {
    requirePythonPackages();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-interop-"));
    const keysDir = path.join(dataDir, "keys");
    for (const participantId of PARTICIPANTS) writeKeyFiles(keysDir, participantId, generateSeed());
    // writeKeyFiles names files after the participant, so bank-a's second key lives in its own folder.
    const revokedKeyFile = writeKeyFiles(path.join(dataDir, "revoked-keys"), "bank-a", generateSeed()).keyFile;

    nats = await startNatsServer();
    // In place on the event loop here (the other tests verify on the verifier thread), so the
    // independent client's good and bad signatures meet both placements across the suite.
    const settings = loadSettings(clearingSettingsSchema(), {
      CLEARMESH_DATA_DIR: dataDir, NATS_URL: nats.url, GRPC_PORT: "0", HTTP_PORT: "0", LOG_LEVEL: "warn", SIGNATURE_VERIFICATION: "event-loop",
    });
    clearing = await startClearing(settings);
    await clearing.ready;
    expect(signatureVerification()).toBe("event-loop");
    const address = `127.0.0.1:${clearing.grpcPort}`;

    const operator = createSignedClient(ClearingService, {
      address,
      signer: loadSigningKey(path.join(keysDir, "operator.key"), "operator", "operator-1"),
      responseKeys: clearing.directory.lookupKey,
      expectedResponder: "clearing",
    });
    try {
      for (const participantId of ["bank-a", "bank-b"]) {
        const key = loadSigningKey(path.join(keysDir, `${participantId}.key`), participantId, `${participantId}-1`);
        await operator.registerParticipant({
          participantId, name: participantId, kind: ParticipantKind.BANK, currencies: ["USD"],
          keys: [{ keyId: key.keyId, publicKey: key.publicKey }],
        });
      }
      // The payer needs prefunded liquidity and a net debit cap to pay.
      await operator.depositLiquidity({ requestId: "interop-fund-bank-a", participantId: "bank-a", amount: { currency: "USD", amountMinor: 100_000_000n } });
      await operator.setNetDebitCap({ requestId: "interop-cap-bank-a", participantId: "bank-a", cap: { currency: "USD", amountMinor: 100_000_000n } });
      const revoked = loadSigningKey(revokedKeyFile, "bank-a", REVOKED_KEY_ID);
      await operator.addParticipantKey({ participantId: "bank-a", key: { keyId: revoked.keyId, publicKey: revoked.publicKey } });
      await operator.revokeParticipantKey({ participantId: "bank-a", keyId: revoked.keyId, reason: "interop test" });
    } finally {
      operator.close();
    }
    expect(clearing.directory.lookupKey("bank-a", REVOKED_KEY_ID)?.status).toBe("revoked");

    const clearingKey = loadSigningKey(path.join(keysDir, "clearing.key"), "clearing", "clearing-1");
    clientArgs = [
      "--address", address,
      "--participant", "bank-a",
      "--key-id", "bank-a-1",
      "--seed-file", path.join(keysDir, "bank-a.key"),
      "--payee", "bank-b",
      "--responder-public-key-hex", toHex(clearingKey.publicKey),
      "--revoked-key-id", REVOKED_KEY_ID,
      "--revoked-seed-file", revokedKeyFile,
      "--vectors-file", SIGNATURE_VECTORS,
    ];
  }, 60_000);

  afterAll(async () => {
    await clearing?.stop();
    await nats?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    setSignatureVerification("verifier-thread");
  }, 60_000);

  it("signs, verifies and is rejected exactly as PROTOCOL.md says", async () => {
    const run = await runClient(clientArgs);
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(run.output);
    const explained = `interop client exited ${run.code}:\n${run.output}`;
    expect(summary, explained).not.toBeNull();
    expect(Number(summary![2]), explained).toBe(0);
    expect(Number(summary![1]), explained).toBeGreaterThan(0);
    expect(run.code, explained).toBe(0);
    for (const check of ["signature-vectors", "create-transfer-signed", "unknown-field-first", "rejects-KEY_REVOKED", "rejects-BAD_SIGNATURE"]) {
      expect(run.output, explained).toMatch(new RegExp(`^PASS ${check}$`, "m"));
    }
  }, 60_000);
});

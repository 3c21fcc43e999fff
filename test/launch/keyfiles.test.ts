// A corrupt or missing key file stops a service at start with a message naming the file; so do
// bad settings, naming the variable.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats, startNatsServer } from "@clearmesh/bus";
import { ensureKeyFiles } from "@clearmesh/runtime";
import { ensureDataKeys } from "../../packages/cli/src/start.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

async function startProcess(service: string, environment: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ["--import", "tsx", `services/${service}/src/main.ts`], {
      cwd: root, env: { ...process.env, NATS_URL: "nats://127.0.0.1:1", ...environment, LOG_LEVEL: "silent", GRPC_PORT: "0", HTTP_PORT: "0" }, timeout: 30_000,
    });
    return { code: 0, stderr: "" };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, stderr: failure.stderr };
  }
}

describe("key files at start", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-keys-"));
    for (const participantId of ["operator", "clearing", "wallet", "wallet-a"]) ensureKeyFiles(path.join(dataDir, "keys"), participantId);
    ensureDataKeys(path.join(dataDir, "keys", "data-keys"));
    ensureDataKeys(path.join(dataDir, "keys", "notify-data-keys"));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("a missing identity key file stops the service and names the file", async () => {
    const file = path.join(dataDir, "keys", "notifier.key");
    const result = await startProcess("notifier", { CLEARMESH_DATA_DIR: dataDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain("missing");
  });

  it("a corrupt hosted participant key file stops the service and names the file", async () => {
    const file = path.join(dataDir, "keys", "wallet-b.key");
    fs.writeFileSync(file, "not hex at all\n", { mode: 0o600 });
    const result = await startProcess("wallet", { CLEARMESH_DATA_DIR: dataDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(file);
    expect(result.stderr).toContain("corrupt");
    expect(result.stderr).not.toContain("not hex at all");
  });

  it("a bad setting stops the service and names the variable", async () => {
    const result = await startProcess("clearing", { CLEARMESH_DATA_DIR: dataDir, MAX_PENDING_OPERATIONS: "lots" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("MAX_PENDING_OPERATIONS");
  });

  it("a key id for a participant the service does not host stops wallet, bank-adapter and connector, naming HOSTED_KEY_IDS", async () => {
    for (const service of ["wallet", "bank-adapter", "e-commerce-connector"]) {
      const result = await startProcess(service, { CLEARMESH_DATA_DIR: dataDir, HOSTED_KEY_IDS: "nobody-here:nobody-here-2" });
      expect([service, result.code]).toEqual([service, 1]);
      expect(result.stderr).toContain("HOSTED_KEY_IDS names nobody-here, which HOSTED_PARTICIPANTS does not host");
    }
  });

  it("more stream replicas than JetStream can keep stops the service, names STREAM_REPLICAS and creates no stream", async () => {
    const outOfRange = await startProcess("clearing", { CLEARMESH_DATA_DIR: dataDir, STREAM_REPLICAS: "7" });
    expect(outOfRange.code).toBe(1);
    expect(outOfRange.stderr).toContain("STREAM_REPLICAS");

    const nats = await startNatsServer();
    try {
      const alone = await startProcess("clearing", { CLEARMESH_DATA_DIR: dataDir, NATS_URL: nats.url, STREAM_REPLICAS: "3" });
      expect(alone.code).toBe(1);
      expect(alone.stderr).toContain("STREAM_REPLICAS=3: stream CLEARMESH_CLEARING needs 3 replicas");
      const nc = await connectNats({ url: nats.url, name: "replicas-check" });
      const jsm = await nc.jetstreamManager();
      expect(await jsm.streams.names().next()).toEqual([]);
      await nc.close();
    } finally {
      await nats.stop();
    }
  });
});

// `npm run demo` against a mesh as `npm start` runs it: startMesh on free ports in a temporary
// data folder (it spawns the service processes and runs the local mail and SMS sinks), then the
// demo as a child process, twice on the same mesh: each run exits 0 with every check OK.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICE_NAMES } from "@clearmesh/runtime";
import { testPort } from "../support/ports.js";
import { portVariable, startMesh, type RunningMesh } from "../../packages/cli/src/start.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

const freePort = testPort;

describe("npm run demo", () => {
  let dataDir: string;
  let mesh: RunningMesh | undefined;
  let broken: string | undefined;
  const environment: Record<string, string> = {};

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-demo-"));
    environment.CLEARMESH_DATA_DIR = dataDir;
    environment.NATS_URL = `nats://127.0.0.1:${await freePort()}`;
    environment.LOG_LEVEL = "warn";
    for (const service of SERVICE_NAMES) {
      environment[portVariable(service, "grpc")] = String(await freePort());
      environment[portVariable(service, "http")] = String(await freePort());
    }
    mesh = await startMesh({ dataDir, environment: { ...process.env, ...environment }, print: () => undefined });
    void mesh.failed.then((reason) => { broken = reason; });
  }, 90_000);

  afterAll(async () => {
    await mesh?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  const demo = async () => {
    const result = await run(process.execPath, ["--import", "tsx", "packages/cli/src/bin.ts", "demo", "--data-dir", dataDir], {
      cwd: root, env: { ...process.env, ...environment }, timeout: 60_000,
    }).catch((error: { code?: number; stdout?: string; stderr?: string }) => ({ failed: error.code ?? -1, stdout: error.stdout ?? "", stderr: error.stderr ?? "" }));
    return { code: "failed" in result ? result.failed : 0, stdout: result.stdout, stderr: result.stderr };
  };

  it("runs green on a fresh mesh and again on the same mesh; its final table reconciles", async () => {
    for (const attempt of [1, 2]) {
      const { code, stdout, stderr } = await demo();
      expect(code, `demo run ${attempt} exited ${code}:\n${stdout}\n${stderr}`).toBe(0);
      for (const step of ["== 1.", "== 2.", "== 3.", "== 4.", "== 5.", "== 6.", "== 7.", "== 8."]) expect(stdout).toContain(step);
      expect(stdout).toMatch(/SMS to \+1555\d{7}: "clearmesh: \d{6} is your code to approve the mandate/);
      expect(stdout).toContain("SETTLED");
      const checks = stdout.split("\n").filter((line) => /^\s+(OK|FAIL)\s/.test(line));
      expect(checks.length).toBeGreaterThan(20);
      expect(checks.filter((line) => !/^\s+OK\s/.test(line))).toEqual([]);
      for (const name of ["positions sum to zero", "settlement bank agrees", "bank account = deposit − top-up − card capture + refund", "provider books balanced"]) {
        expect(checks.some((line) => line.includes(name)), name).toBe(true);
      }
      expect(stdout).toMatch(/ALL \d+ CHECKS OK/);
    }
    expect(broken, "a service of the mesh exited during the demo").toBeUndefined();
  }, 150_000);
});

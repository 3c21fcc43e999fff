// `npm run build` bundles every service into one file that plain node runs (the Docker image's
// CMD). Each bundle must load all of its modules: run with a bad setting, it gets as far as
// checking its configuration and names the variable.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICES, buildBundles } from "../../scripts/build.js";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
let outDir: string;
let dataDir: string;

beforeAll(async () => {
  // Inside the repository, as dist/ is, so the bundles find node_modules.
  outDir = fs.mkdtempSync(path.join(root, ".tmp-build-"));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-build-"));
  await buildBundles(Object.fromEntries(SERVICES.map((service) => [service, `services/${service}/src/main.ts`])), outDir);
}, 120_000);

afterAll(() => {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Every .ts file under a folder, recursively. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "test" || entry.name === "node_modules" ? [] : sources(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

describe("npm run build", () => {
  it("bundles code that reads no file from beside its own source (a bundle does not carry such files)", () => {
    const allowed = new Set([
      "packages/store/src/sqlite-writer.ts", // its thread's file is copied beside every bundle
      "packages/trust/src/verifier-thread.ts", // likewise
      "packages/cli/src/start.ts", // npm start runs from the repository, not from a bundle
    ]);
    const offenders = [...sources(path.join(root, "services")), ...sources(path.join(root, "packages"))]
      .map((file) => path.relative(root, file))
      .filter((file) => !allowed.has(file) && /import\.meta\.(url|dirname|filename)|__dirname|__filename/.test(fs.readFileSync(path.join(root, file), "utf8")));
    expect(offenders).toEqual([]);
  });

  it("writes one bundle per service and the files of the SQLite writer thread and the verifier thread", () => {
    expect(fs.readdirSync(outDir).filter((name) => name.endsWith(".mjs")).sort())
      .toEqual([...SERVICES.map((service) => `${service}.mjs`), "sqlite-writer.worker.mjs", "verifier-thread.worker.mjs"].sort());
  });

  it.each(SERVICES)("the %s bundle runs on plain node and checks its settings", async (service) => {
    const failure = await run(process.execPath, [path.join(outDir, `${service}.mjs`)], {
      cwd: root, timeout: 30_000, env: { PATH: process.env.PATH, CLEARMESH_DATA_DIR: dataDir, GRPC_PORT: "notaport", LOG_LEVEL: "silent" },
    }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('GRPC_PORT="notaport" is invalid');
  });
});

// `npm run build`: each service as one JavaScript file, dist/<service>.mjs, so a deployed
// service runs on plain node: no TypeScript loader thread (about 45 MB of memory per process) and
// no compiling at start. Dependencies with native parts (better-sqlite3, sodium-native) stay external and load
// from node_modules; the files of the SQLite writer thread and the verifier thread are copied beside the bundles.
//
//   node --import tsx scripts/build.ts [outDir]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const SERVICES = ["clearing", "bank-adapter", "wallet", "e-commerce-connector", "notifier"] as const;

/** Bundles each entry (a path from the repository root) into outDir/<name>.mjs. */
export async function buildBundles(entries: Record<string, string>, outDir: string): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, entry]) => [name, path.join(repoRoot, entry)])),
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Native addons and optional native drivers load from node_modules at run time.
    external: ["better-sqlite3", "pg-native", "sodium-native"],
    // CommonJS dependencies inside an ES module bundle call require().
    banner: { js: "import { createRequire as __clearmeshRequire } from 'node:module'; const require = __clearmeshRequire(import.meta.url);" },
    sourcemap: "linked",
    logLevel: "warning",
  });
  // packages/store and packages/trust start these files as threads, next to the module that asks for them.
  fs.copyFileSync(path.join(repoRoot, "packages/store/src/sqlite-writer.worker.mjs"), path.join(outDir, "sqlite-writer.worker.mjs"));
  fs.copyFileSync(path.join(repoRoot, "packages/trust/src/verifier-thread.worker.mjs"), path.join(outDir, "verifier-thread.worker.mjs"));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = path.resolve(process.argv[2] ?? path.join(repoRoot, "dist"));
  await buildBundles(Object.fromEntries(SERVICES.map((service) => [service, `services/${service}/src/main.ts`])), outDir);
  process.stdout.write(`built ${SERVICES.map((service) => `${service}.mjs`).join(", ")} in ${path.relative(repoRoot, outDir) || "."}\n`);
}

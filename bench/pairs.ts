// `npm run bench:pairs`: the alternating runs docs/performance.md measures its experiments with.
// Runs `bench/run.ts` once per variant, variant after variant, --pairs times, each with its
// variant's environment, then prints every run's rows and each variant's means. On this VM a
// host's speed drifts by ±10–15% from one minute to the next: only variants run alternately, a
// minute apart, compare; a single run of each does not.
//
//   npm run bench:pairs -- --variant "" --variant "ANSWERS_PER_TURN=0" [--pairs 3] [-- <run.ts options>]
//
// A variant is environment settings separated by spaces (`NAME=value NAME2=value`), "" for none.
// Every setting a service reads from its environment reaches the measured services (the
// bench/serve-*.ts scripts pass them on), but the folders, ports, addresses and keys the harness
// sets itself; B3's SIGNATURE_VERIFICATION=event-loop and CALLS_PER_TURN=8 are defaults a variant
// overrides. run.ts's own options (BENCH_CASES, BENCH_DURATION_S, …) are refused in a variant:
// they go after `--`, the same for every variant. Variants are numbered (#1, #2, …) in the output,
// so two may be the same settings (an A/A check of the noise).
// run.ts options default to one round of a 3 s warm-up and a 10 s window after an 8 s server
// warm-up, B0 and B1 at 32 in flight; any given after `--` replace those defaults one by one.
// A run that exits non-zero (failed calls or a failed case) keeps the rows it wrote, shown with
// their errors, and bench:pairs then exits 1. Each run's results are kept in a temporary folder,
// named in the output.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { benchDir } from "./harness.js";
import { scriptHelp } from "./help.js";
import { share } from "./targets.js";

export interface PairRow {
  variant: string;
  /** The variant's place among --variant (from 0): two variants may be the same settings (an A/A check of the noise). */
  variantIndex: number;
  pair: number;
  case: string;
  in_flight: number;
  throughput_per_s: number;
  ratio_to_b0: number | null;
  p50_ms: number;
  p99_ms: number;
  cpu_ms_per_call: number | null;
  machine_cpu_util: number | null;
  errors: number;
}

export interface VariantMean {
  variant: string;
  variantIndex: number;
  case: string;
  in_flight: number;
  runs: number;
  throughput_per_s: number;
  /** Mean share of B0 in the same runs, where the run had B0. */
  ratio_to_b0: number | null;
  p99_ms: number;
  cpu_ms_per_call: number | null;
  errors: number;
}

/** run.ts's options as environment variables: bench:pairs gives run.ts those as options, which win, so a variant may not set them. */
const RUN_OPTION_VARIABLES = new Set([
  "BENCH_CASES", "BENCH_DURATION_S", "BENCH_WARMUP_S", "BENCH_SERVER_WARMUP_S", "BENCH_IN_FLIGHT", "BENCH_ROUNDS", "BENCH_SMOKE", "BENCH_OUT", "BENCH_PROFILE_DIR",
]);

/** A variant's settings as environment entries; refuses anything but `NAME=value` words, and run.ts's own options. */
export function parseVariant(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(word);
    if (!match) throw new Error(`a variant is NAME=value settings separated by spaces; "${word}" is not one`);
    if (RUN_OPTION_VARIABLES.has(match[1]!)) {
      throw new Error(`${match[1]} is one of run.ts's options, the same for every variant: give it after \`--\` (e.g. -- --duration-s 5), not in a variant`);
    }
    settings[match[1]!] = match[2]!;
  }
  return settings;
}

/** The rows of one run's results file (bench/run.ts --out), with the variant and pair they came from. */
export function rowsOf(results: { cases: ReadonlyArray<Record<string, unknown>> }, variant: string, pair: number, variantIndex = 0): PairRow[] {
  return results.cases
    .filter((row) => row.status === undefined || row.status === "ok")
    .map((row) => ({
      variant, variantIndex, pair,
      case: String(row.case), in_flight: Number(row.in_flight),
      throughput_per_s: Number(row.throughput_per_s),
      ratio_to_b0: typeof row.ratio_to_b0 === "number" && row.case !== "B0" ? row.ratio_to_b0 : null,
      p50_ms: Number(row.p50_ms), p99_ms: Number(row.p99_ms),
      cpu_ms_per_call: typeof row.cpu_ms_per_call === "number" ? row.cpu_ms_per_call : null,
      machine_cpu_util: typeof row.machine_cpu_util === "number" ? row.machine_cpu_util : null,
      errors: Number(row.errors ?? 0),
    }));
}

/** Each variant's means per case and in-flight count, in the order variants and cases first appear. */
export function meansOf(rows: readonly PairRow[]): VariantMean[] {
  const groups = new Map<string, PairRow[]>();
  for (const row of rows) {
    const key = `${row.variantIndex}\u0000${row.case}\u0000${row.in_flight}`;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const meanOrNull = (values: ReadonlyArray<number | null>) => {
    const known = values.filter((value): value is number => value !== null);
    return known.length > 0 ? mean(known) : null;
  };
  return [...groups.values()].map((group) => ({
    variant: group[0]!.variant, variantIndex: group[0]!.variantIndex, case: group[0]!.case, in_flight: group[0]!.in_flight, runs: group.length,
    throughput_per_s: mean(group.map((row) => row.throughput_per_s)),
    ratio_to_b0: meanOrNull(group.map((row) => row.ratio_to_b0)),
    p99_ms: mean(group.map((row) => row.p99_ms)),
    cpu_ms_per_call: meanOrNull(group.map((row) => row.cpu_ms_per_call)),
    errors: group.reduce((sum, row) => sum + row.errors, 0),
  }));
}

const fixed = (value: number | null, digits: number, suffix = "") => (value === null ? "—" : `${value.toFixed(digits)}${suffix}`);
const percent = (value: number | null) => (value === null ? "—" : share(value));
/** "#1 (as is)", "#2 ANSWERS_PER_TURN=0": numbered, so that two identical variants stay apart. */
const label = (variant: string, index: number) => `#${index + 1} ${variant === "" ? "(as is)" : variant}`;

export function formatRows(rows: readonly PairRow[]): string[] {
  return rows.map((row) => [
    label(row.variant, row.variantIndex), `pair ${row.pair}`, `${row.case} @ ${row.in_flight}`, `${row.throughput_per_s.toFixed(1)}/s`, percent(row.ratio_to_b0),
    `p50 ${row.p50_ms.toFixed(1)}`, `p99 ${row.p99_ms.toFixed(1)} ms`, `server ${fixed(row.cpu_ms_per_call, 3)} ms/unit`,
    `machine ${percent(row.machine_cpu_util)}`, ...(row.errors > 0 ? [`${row.errors} errors`] : []),
  ].join("  "));
}

export function formatMeans(means: readonly VariantMean[]): string[] {
  return means.map((row) => [
    label(row.variant, row.variantIndex), `${row.case} @ ${row.in_flight}`, `${row.runs} runs`, `${row.throughput_per_s.toFixed(1)}/s`, percent(row.ratio_to_b0),
    `p99 ${row.p99_ms.toFixed(1)} ms`, `server ${fixed(row.cpu_ms_per_call, 3)} ms/unit`, ...(row.errors > 0 ? [`${row.errors} errors`] : []),
  ].join("  "));
}

/** run.ts's options: the defaults above, each replaced by the same option given after `--`. */
export function runOptions(given: readonly string[]): string[] {
  const defaults: Array<[string, string]> = [
    ["--cases", "B0,B1"], ["--in-flight", "32"], ["--rounds", "1"], ["--duration-s", "10"], ["--warmup-s", "3"], ["--server-warmup-s", "8"],
  ];
  const named = (option: string) => given.some((word) => word === option || word.startsWith(`${option}=`));
  return [...defaults.filter(([option]) => !named(option)).flat(), ...given];
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { pairs: { type: "string" }, variant: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(scriptHelp(import.meta.url));
    return;
  }
  const variants = values.variant ?? [];
  if (variants.length < 2) throw new Error('give at least two --variant (one may be "", the code as it is)');
  const settings = variants.map(parseVariant);
  const pairs = Number(values.pairs ?? 3);
  if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`--pairs must be a positive integer, got ${values.pairs}`);
  if (positionals.some((word) => word === "--out" || word.startsWith("--out="))) throw new Error("--out is set by bench:pairs, one file per run");
  const options = runOptions(positionals);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-pairs-"));
  process.stdout.write(`bench:pairs: ${pairs} × ${variants.map(label).join(" / ")}; run.ts ${options.join(" ")}; results in ${folder}\n`);

  const rows: PairRow[] = [];
  let unclean = 0;
  for (let pair = 1; pair <= pairs; pair += 1) {
    for (const [index, variant] of variants.entries()) {
      const out = path.join(folder, `pair-${pair}-variant-${index + 1}.json`);
      const started = Date.now();
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", path.join(benchDir, "run.ts"), ...options, "--out", out], {
          env: { ...process.env, ...settings[index] }, stdio: ["ignore", "ignore", "inherit"],
        });
        child.once("error", reject);
        child.once("exit", resolve);
      });
      // run.ts exits 1 when a case failed or calls failed, but still writes what it measured: keep that, shown with its errors.
      if (code !== 0 && !fs.existsSync(out)) throw new Error(`run.ts exited with ${code} for ${label(variant, index)} in pair ${pair} and wrote no results (its error is above)`);
      if (code !== 0) {
        unclean += 1;
        process.stdout.write(`${label(variant, index)}  pair ${pair}: run.ts exited with ${code} (a case or some calls failed, above); its measured rows follow\n`);
      }
      const runRows = rowsOf(JSON.parse(fs.readFileSync(out, "utf8")), variant, pair, index);
      rows.push(...runRows);
      for (const line of formatRows(runRows)) process.stdout.write(`${line}  (${Math.round((Date.now() - started) / 1000)} s)\n`);
    }
  }
  process.stdout.write("\nmeans:\n");
  for (const line of formatMeans(meansOf(rows))) process.stdout.write(`${line}\n`);
  if (unclean > 0) throw new Error(`${unclean} of the ${pairs * variants.length} runs were not clean (run.ts exited non-zero): their rows are in the means above, their errors counted`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench:pairs: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}

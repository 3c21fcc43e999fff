// `npm run bench`: runs the cases of bench/cases.ts, each against servers it starts itself in
// their own processes, with a load generator in another process; prints a table and writes
// bench/results/latest.json (or --out). See docs/performance.md.
//
//   npm run bench -- [--cases B0,B1] [--duration-s 10] [--warmup-s 3] [--server-warmup-s 15]
//                    [--in-flight 32] [--rounds 3] [--smoke] [--out file.json] [--profile <dir>] [--markdown]
// The same settings as environment: BENCH_CASES, BENCH_DURATION_S, BENCH_WARMUP_S,
// BENCH_SERVER_WARMUP_S, BENCH_IN_FLIGHT, BENCH_ROUNDS, BENCH_SMOKE=1, BENCH_OUT, BENCH_PROFILE_DIR.
// BENCH_VERBOSE=1 shows the children's stderr. Measured servers run as bundles on plain node, as
// deployed services do (npm run build); BENCH_SOURCES=1 runs them from source on tsx instead (CPU
// profiles then name source files). BENCH_B3_CALLS_PER_TURN and BENCH_B4_TRANSFERS set B3's limit
// per turn and B4's window size; any setting of a service in the environment (ANSWERS_PER_TURN,
// SIGNATURE_VERIFICATION, …) reaches the measured services.
// Each case's servers start once and serve every round: first a server warm-up (--server-warmup-s
// of load, not measured), then in each round a run per in-flight count (--warmup-s, then the
// --duration-s window; the generator is a new process each time). Rounds run every selected case
// in turn; each row is the round with the median rate among the least disturbed ones. With
// --profile, one round.
// --smoke: about 1 s per case after 0.3 s of warm-up and no server warm-up, 32 in flight, one
// round (what `npm test` runs); too short to judge the targets by. A full run (3 rounds of every
// case) takes about 9 minutes.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { CASES, WARMUP_LABEL, type BenchCase, type CaseContext, type CaseSession } from "./cases.js";
import { benchDir, prepareServerBundles, stopChildren, type CaseRow, type MeasuredRow } from "./harness.js";
import { scriptHelp } from "./help.js";
import { judgeTargets, share, verdictLines } from "./targets.js";

const { values: flags } = parseArgs({
  options: {
    cases: { type: "string" },
    "duration-s": { type: "string" },
    "warmup-s": { type: "string" },
    "server-warmup-s": { type: "string" },
    "in-flight": { type: "string" },
    smoke: { type: "boolean" },
    out: { type: "string" },
    profile: { type: "string" },
    markdown: { type: "boolean" },
    rounds: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (flags.help) {
  process.stdout.write(scriptHelp(import.meta.url));
  process.exit(0);
}

const env = process.env;
/** Rounds whose disturbance is within this much of the least disturbed one count as equally clean (see combine). */
const CLEAN_MARGIN = 0.05;
const smoke = flags.smoke ?? ["1", "true"].includes(env.BENCH_SMOKE ?? "");
const numberOption = (flag: string | undefined, variable: string | undefined, fallback: number, name: string, zeroAllowed = false): number => {
  const text = flag ?? variable;
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
    throw new Error(`${name} must be a ${zeroAllowed ? "non-negative" : "positive"} number, got ${text}`);
  }
  return value;
};
const durationS = numberOption(flags["duration-s"], env.BENCH_DURATION_S, smoke ? 1 : 10, "--duration-s");
const warmupS = numberOption(flags["warmup-s"], env.BENCH_WARMUP_S, smoke ? 0.3 : 3, "--warmup-s");
/**
 * Load on each case's freshly started servers before their first measurement, not measured. The
 * services' JIT keeps compiling for about 15–20 s of load (B3's three services longest): measured
 * from their start, B3 paid about half again as much CPU per payment as on warm services.
 */
const serverWarmupS = numberOption(flags["server-warmup-s"], env.BENCH_SERVER_WARMUP_S, smoke ? 0 : 15, "--server-warmup-s", true);
const inFlightOverride = (flags["in-flight"] ?? env.BENCH_IN_FLIGHT)?.split(",").filter(Boolean).map((text) => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--in-flight takes positive integers, got ${text}`);
  return value;
});
const out = path.resolve(flags.out ?? env.BENCH_OUT ?? path.join(benchDir, "results", "latest.json"));
const profileDir = flags.profile ?? env.BENCH_PROFILE_DIR;
// Not in a smoke run, nor with a profile (each round's clearing would write its own).
const rounds = Math.round(numberOption(flags.rounds, env.BENCH_ROUNDS, smoke || profileDir ? 1 : 3, "--rounds"));
const wanted = (flags.cases ?? env.BENCH_CASES)?.split(",").map((id) => id.trim().toUpperCase()).filter(Boolean);
for (const id of wanted ?? []) {
  if (!CASES.some((entry) => entry.id === id)) throw new Error(`unknown case ${id}; cases are ${CASES.map((entry) => entry.id).join(", ")}`);
}
const selected = CASES.filter((entry) => (wanted ? wanted.includes(entry.id) : !smoke || entry.inSmoke));

// Each case's title for this run; one that follows the run's settings (B4's window size) reads
// them, so a malformed one is refused here, before anything starts.
const titles = new Map(selected.map((entry) => [entry.id, entry.titleOf?.({ smoke }) ?? entry.title]));

const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-bench-run-"));
process.on("exit", () => fs.rmSync(tempDir, { recursive: true, force: true }));
if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
const context: CaseContext = {
  smoke, tempDir, profileDir: profileDir ? path.resolve(profileDir) : undefined,
  runId: `r${randomBytes(4).toString("hex")}`,
  log: (line) => process.stderr.write(`${line}\n`),
};

process.once("SIGINT", () => {
  context.log("interrupted: stopping the children");
  void stopChildren().finally(() => process.exit(130));
});

const machine = {
  cpus: os.cpus().length,
  cpu_model: os.cpus()[0]?.model.trim() ?? "unknown",
  total_memory_mb: Math.round(os.totalmem() / 1_048_576),
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  date: new Date().toISOString(),
  load_average_at_start: os.loadavg().map((value) => Number(value.toFixed(2))),
  servers: "bundled with esbuild (scripts/build.ts), run on plain node",
};

const emptyFigures = {
  in_flight: null, throughput_per_s: null, ratio_to_b0: null, p50_ms: null, p99_ms: null,
  cpu_ms_per_call: null, rss_mb: null, calls: null, errors: null, duration_s: null,
} as const;

const started = Date.now();
// Measured servers run as bundles on plain node, as deployed services do (npm run build);
// BENCH_SOURCES=1 runs them from source on tsx instead (CPU profiles then name source files).
if (!process.env.BENCH_SOURCES) prepareServerBundles();
context.log(`clearmesh bench: ${selected.map((entry) => entry.id).join(", ")}; server warm-up ${serverWarmupS} s; warm-up ${warmupS} s, window ${durationS} s, ${rounds} round(s)${smoke ? " (smoke)" : ""}`);
// Rounds run every selected case in turn, so a neighbour's burst of work disturbs one round of
// each case rather than all of one case; each row is then chosen among the least disturbed rounds (see combine).
const groups = new Map<string, CaseRow[]>();
/** Each case's servers, opened in its first round and closed after the last. */
const sessions = new Map<string, CaseSession>();
for (let round = 1; round <= rounds; round++) {
  if (rounds > 1) context.log(`round ${round} of ${rounds}`);
  // B0 first: every other row is divided by it.
  for (const entry of [...selected].sort((a, b) => Number(b.id === "B0") - Number(a.id === "B0"))) {
    if (round > 1 && (entry.status !== "available" || round > (entry.maxRounds ?? rounds))) continue;
    for (const row of await runCase(entry, round)) {
      const key = `${row.case}/${row.in_flight ?? ""}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
  }
}
for (const [id, session] of sessions) await closeSession(id, session);
const rows = [...groups.values()].map(combine);
for (const row of rows) {
  if (row.status !== "ok" || row.throughput_per_s === null) continue;
  if (CASES.find((entry) => entry.id === row.case)?.comparesToB0 === false) continue;
  const baseline = rows.find((candidate) => candidate.case === "B0" && candidate.status === "ok" && candidate.in_flight === row.in_flight);
  row.ratio_to_b0 = baseline?.throughput_per_s ? Number((row.throughput_per_s / baseline.throughput_per_s).toFixed(3)) : null;
  // Round by round too: B0 and this case ran minutes apart at most, under the same neighbours.
  const baselineRounds = groups.get(`B0/${row.in_flight}`);
  const ownRounds = groups.get(`${row.case}/${row.in_flight}`)!;
  if (rounds > 1 && baselineRounds && baselineRounds.length === ownRounds.length) {
    row.rounds_ratio_to_b0 = ownRounds.map((own, index) => {
      const base = baselineRounds[index]!.throughput_per_s;
      return own.throughput_per_s !== null && base ? Number((own.throughput_per_s / base).toFixed(3)) : null;
    });
  }
}
rows.sort((a, b) => CASES.findIndex((entry) => entry.id === a.case) - CASES.findIndex((entry) => entry.id === b.case));

// A smoke run is too short to judge anything by: it only shows that every case still runs.
const targets = smoke ? null : judgeTargets(rows);
const results = {
  machine,
  settings: { server_warmup_s: serverWarmupS, warmup_s: warmupS, duration_s: durationS, rounds, smoke, total_s: Math.round((Date.now() - started) / 1000) },
  cases: rows,
  targets,
};
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
if (flags.markdown) process.stdout.write(`${markdownTable(rows)}\n\n`);
if (targets) process.stdout.write(`${table(rows)}\n\ntargets of issue 7, on the rows above:\n${verdictLines(targets).join("\n")}\n`);
else process.stdout.write(`${table(rows)}\n`);
process.stdout.write(`\nwritten to ${path.relative(process.cwd(), out) || out} in ${results.settings.total_s} s\n`);
process.exit(rows.some((row) => row.status === "failed" || (row.errors ?? 0) > 0) ? 1 : 0);

/**
 * One row from several rounds of one case and in-flight count. A neighbour's work only ever
 * slows a round down, so only the least disturbed rounds count (those whose share of the
 * machine's CPU taken by processes outside this run is within CLEAN_MARGIN of the lowest); of
 * those, the row is the median by throughput. Every round's throughput, p99 and disturbance are
 * kept, and every round's errors are counted.
 */
function combine(group: readonly CaseRow[]): CaseRow {
  if (group.length === 1) return group[0]!;
  const failed = group.find((row) => row.status !== "ok");
  if (failed) return { ...failed, rounds: group.length };
  const disturbance = (row: CaseRow) => (typeof row.other_cpu_util === "number" ? row.other_cpu_util : 1);
  const cleanest = Math.min(...group.map(disturbance));
  const clean = group.filter((row) => disturbance(row) <= cleanest + CLEAN_MARGIN).sort((a, b) => a.throughput_per_s! - b.throughput_per_s!);
  const chosen = clean[Math.floor((clean.length - 1) / 2)]!;
  const sum = (field: string) => group.reduce((total, row) => total + Number(row[field] ?? 0), 0);
  return {
    ...chosen,
    errors: sum("errors"),
    warmup_errors: sum("warmup_errors"),
    rounds: group.length,
    chosen_round: group.indexOf(chosen) + 1,
    clean_rounds: clean.length,
    rounds_throughput_per_s: group.map((row) => row.throughput_per_s),
    rounds_p99_ms: group.map((row) => row.p99_ms),
    rounds_rss_mb: group.map((row) => row.rss_mb),
    rounds_other_cpu_util: group.map((row) => row.other_cpu_util),
  };
}

async function closeSession(id: string, session: CaseSession): Promise<void> {
  sessions.delete(id);
  await session.close().catch((error: unknown) => context.log(`${id}: stopping its servers failed: ${(error as Error).message ?? error}`));
}

/** The case's servers, started and warmed up on first use (a session whose run failed is started again). */
async function sessionOf(entry: BenchCase, inFlight: readonly number[]): Promise<CaseSession> {
  const open = sessions.get(entry.id);
  if (open) return open;
  const session = await entry.open!(context);
  sessions.set(entry.id, session);
  if (serverWarmupS > 0) {
    const count = inFlight.includes(32) ? 32 : Math.max(...inFlight);
    const warm = await session.measure(count, { label: WARMUP_LABEL, warmupS: Math.max(serverWarmupS - 1, 0.1), durationS: 1 });
    const failed = (warm.errors ?? 0) + Number(warm.warmup_errors ?? 0);
    if (failed > 0) throw new Error(`${failed} calls failed during the server warm-up`);
    context.log(`  servers warmed up: ${serverWarmupS} s at ${count} in flight, not measured (${warm.throughput_per_s}/s in its last second)`);
  }
  return session;
}

async function runCase(entry: BenchCase, round: number): Promise<CaseRow[]> {
  const header = { case: entry.id, title: titles.get(entry.id)! };
  if (entry.status !== "available" || (!entry.run && !entry.open)) {
    return [{ ...header, status: "not yet built", ...emptyFigures, target: entry.target, blocked_by: entry.blockedBy ?? null }];
  }
  const inFlight = inFlightOverride ?? (smoke ? entry.smokeInFlight : entry.inFlight);
  context.log(`${entry.id}: ${header.title}`);
  try {
    let measured: MeasuredRow[];
    if (entry.open) {
      const session = await sessionOf(entry, inFlight);
      measured = [];
      const label = String(round).padStart(2, "0");
      for (const count of inFlight) measured.push(await session.measure(count, { label, warmupS, durationS }));
      // After its last round the case's servers stop; until then they are parked while the others run.
      if (round >= Math.min(rounds, entry.maxRounds ?? rounds)) await closeSession(entry.id, session);
      else session.park();
    } else {
      measured = await entry.run!(context, inFlight);
    }
    return measured.map((figures) => ({ ...header, status: "ok", ratio_to_b0: null, ...figures, target: entry.target }));
  } catch (error) {
    context.log(`${entry.id} failed: ${(error as Error).stack ?? error}`);
    const session = sessions.get(entry.id);
    if (session) await closeSession(entry.id, session);
    return [{ ...header, status: "failed", ...emptyFigures, target: entry.target, error: String((error as Error).message ?? error) }];
  }
}

/** A row's share of B0 for the tables; blank where it has none (B0 itself, B4). */
function shareCell(ratio: number | null): string {
  return ratio === null ? "" : share(ratio);
}

function table(rows: readonly CaseRow[]): string {
  const columns: Array<[string, (row: CaseRow) => string]> = [
    ["case", (row) => row.case],
    ["in flight", (row) => String(row.in_flight ?? "")],
    ["calls/s", (row) => (row.throughput_per_s === null ? row.status : row.throughput_per_s.toFixed(0))],
    ["x B0", (row) => shareCell(row.ratio_to_b0)],
    ["p50 ms", (row) => row.p50_ms?.toFixed(2) ?? ""],
    ["p99 ms", (row) => row.p99_ms?.toFixed(2) ?? ""],
    ["srv cpu ms/call", (row) => row.cpu_ms_per_call?.toFixed(3) ?? ""],
    ["gen cpu ms/call", (row) => (typeof row.loadgen_cpu_ms_per_call === "number" ? row.loadgen_cpu_ms_per_call.toFixed(3) : "")],
    ["srv rss MB", (row) => row.rss_mb?.toFixed(0) ?? ""],
    ["machine cpu", (row) => (typeof row.machine_cpu_util === "number" ? `${(row.machine_cpu_util * 100).toFixed(0)}%` : "")],
    ["calls", (row) => String(row.calls ?? "")],
    ["errors", (row) => String(row.errors ?? "")],
  ];
  const cells = rows.map((row) => columns.map(([, cell]) => cell(row)));
  const widths = columns.map(([name], index) => Math.max(name.length, ...cells.map((line) => line[index]!.length)));
  const line = (values: readonly string[]) => values.map((value, index) => (index === 0 ? value.padEnd(widths[index]!) : value.padStart(widths[index]!))).join("  ");
  return [line(columns.map(([name]) => name)), line(widths.map((width) => "-".repeat(width))), ...cells.map(line)].join("\n");
}

/** The table for docs/performance.md. */
function markdownTable(rows: readonly CaseRow[]): string {
  const number = (value: unknown, digits: number) => (typeof value === "number" ? value.toFixed(digits) : "");
  const lines = [
    "| case | in flight | calls/s | of B0 | p50 ms | p99 ms | server CPU ms/call | generator CPU ms/call | server RSS MB (peak) | machine CPU | calls | errors |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((row) => row.status !== "ok"
      ? `| ${row.case} | | ${row.status} | | | | | | | | | |`
      : `| ${row.case} | ${row.in_flight} | ${number(row.throughput_per_s, 0)} | ${shareCell(row.ratio_to_b0)} | ${number(row.p50_ms, 1)} | ${number(row.p99_ms, 1)} | ${number(row.cpu_ms_per_call, 3)} | ${number(row.loadgen_cpu_ms_per_call, 3)} | ${number(row.rss_mb, 0)} | ${typeof row.machine_cpu_util === "number" ? `${(row.machine_cpu_util * 100).toFixed(0)}%` : ""} | ${row.calls} | ${row.errors} |`),
  ];
  return lines.join("\n");
}

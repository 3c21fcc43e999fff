// The targets of issue 7, judged against a run's rows, so that `npm run bench` says plainly
// which were met and which were missed (docs/performance.md, "Targets and what was reached").
// A target is judged on the row the harness chose among a case's rounds (bench/run.ts, combine);
// each round's figures stay in the row for a closer look.
import type { CaseRow } from "./harness.js";

export interface TargetVerdict {
  /** The target as issue 7 words it. */
  target: string;
  /** The figure the target is judged on, as printed (e.g. "52.1%", "36.4 ms"). */
  reached: string;
  /** null: the run has no such row (case not selected, failed, or no B0 to compare with). */
  met: boolean | null;
  /**
   * For a p99: what bounds it in the same run, beside the figure. At a fixed number in flight the
   * p50 is that number divided by the rate (Little's law); and B1's calls cannot come back sooner
   * than B0's bare echo does with the same generator on the same cores. For a share of B0 in a
   * run of several rounds: each round's share against that round's B0, since on a shared VM they
   * can lie on both sides of the target.
   */
  context?: string;
}

/** The window issue 7's B4 target is for; only a close of this many transfers is judged against it. */
export const B4_TARGET_TRANSFERS = 1_000_000;

/** 1000000 as "1,000,000". */
export const thousands = (count: number): string => count.toLocaleString("en-US");

/** The largest RSS issue 7 allows a service under load. */
export const RSS_LIMIT_MB = 200;

interface Target {
  target: string;
  caseId: string;
  /** The in-flight count the target is for; undefined: the case's only row (B4). */
  inFlight?: number;
  figure: (row: CaseRow) => number | null;
  format: (value: number) => string;
  met: (value: number) => boolean;
  context?: (row: CaseRow, rows: readonly CaseRow[]) => string | undefined;
  /** Why the row is not the one the target is for (B4 with another window size), if it is not. */
  notFor?: (row: CaseRow) => string | undefined;
}

/** A share of B0 with one decimal, so that 24.6% is not printed as a target's 25%. */
export const share = (value: number): string => `${(value * 100).toFixed(1)}%`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const ratio = (row: CaseRow) => row.ratio_to_b0;
const p99 = (row: CaseRow) => row.p99_ms;
const rowOf = (rows: readonly CaseRow[], caseId: string, inFlight: number | undefined): CaseRow | undefined =>
  rows.find((candidate) => candidate.case === caseId && candidate.status === "ok" && (inFlight === undefined || candidate.in_flight === inFlight));
/** The row's p50 and rate, where it has them. */
function latencyContext(row: CaseRow): string | undefined {
  return row.p50_ms === null || row.throughput_per_s === null ? undefined : `p50 ${ms(row.p50_ms)} at ${row.throughput_per_s.toFixed(0)}/s`;
}
/** Each round's share of its own round's B0, where the run had more than one round. */
function roundsContext(row: CaseRow): string | undefined {
  const rounds = Array.isArray(row.rounds_ratio_to_b0) ? (row.rounds_ratio_to_b0 as unknown[]) : [];
  if (rounds.length < 2) return undefined;
  return `rounds ${rounds.map((value) => (typeof value === "number" ? share(value) : "—")).join(", ")}`;
}
/** Issue 7's bound on B1's p99 at 32 in flight. */
const B1_P99_LIMIT_MS = 25;

/**
 * B1's: also B0's p99 at the same in-flight count, where the run has it (one hop of the same
 * exchange), and whether B0's bare echo alone was already over the target on this host.
 */
function b1LatencyContext(row: CaseRow, rows: readonly CaseRow[]): string | undefined {
  const b0 = row.in_flight === null ? undefined : rowOf(rows, "B0", row.in_flight);
  const own = latencyContext(row);
  if (own === undefined || !b0 || b0.p99_ms === null) return own;
  return `${own}; B0's own p99 ${ms(b0.p99_ms)}${b0.p99_ms > B1_P99_LIMIT_MS ? `, itself over ${B1_P99_LIMIT_MS} ms` : ""}`;
}

/** "B5 failed: <the first line of its error>", where the run has that case's failed row. */
function failureOf(rows: readonly CaseRow[], caseId: string): string | undefined {
  const failed = rows.find((candidate) => candidate.case === caseId && candidate.status === "failed");
  if (!failed) return undefined;
  const first = String(failed.error ?? "").split("\n")[0]!.trim();
  return first === "" ? `${caseId} failed` : `${caseId} failed: ${first.length > 160 ? `${first.slice(0, 159)}…` : first}`;
}

/** B4's target is for a window of 1,000,000 transfers; a close of another size (BENCH_B4_TRANSFERS) is shown, not judged. */
function otherWindowSize(row: CaseRow): string | undefined {
  const transfers = row.transfers;
  if (transfers === B4_TARGET_TRANSFERS) return undefined;
  const held = typeof transfers === "number" ? `${thousands(transfers)} transfers` : "an unknown number of transfers";
  return `not judged: the window held ${held}, the target is for ${thousands(B4_TARGET_TRANSFERS)}`;
}

const TARGETS: readonly Target[] = [
  { target: "B1 at 32 in flight: at least 50% of B0", caseId: "B1", inFlight: 32, figure: ratio, format: share, met: (value) => value >= 0.5, context: roundsContext },
  { target: "B1 at 32 in flight: p99 at most 25 ms", caseId: "B1", inFlight: 32, figure: p99, format: ms, met: (value) => value <= B1_P99_LIMIT_MS, context: b1LatencyContext },
  { target: "B2: at least 25% of B0", caseId: "B2", inFlight: 32, figure: ratio, format: share, met: (value) => value >= 0.25, context: roundsContext },
  { target: "B3: at least 7% of B0", caseId: "B3", inFlight: 32, figure: ratio, format: share, met: (value) => value >= 0.07, context: roundsContext },
  { target: "B3: p99 at most 150 ms", caseId: "B3", inFlight: 32, figure: p99, format: ms, met: (value) => value <= 150, context: latencyContext },
  { target: "B4: the close at most 2 s", caseId: "B4", figure: p99, format: ms, met: (value) => value <= 2_000, notFor: otherWindowSize },
  { target: "B5: at least 25% of B0", caseId: "B5", inFlight: 32, figure: ratio, format: share, met: (value) => value >= 0.25, context: roundsContext },
];

/** Every target's verdict on these rows, in issue 7's order; the memory target last, over every measured row. */
export function judgeTargets(rows: readonly CaseRow[]): TargetVerdict[] {
  const verdicts = TARGETS.map(({ target, caseId, inFlight, figure, format, met, context, notFor }): TargetVerdict => {
    const row = rowOf(rows, caseId, inFlight);
    const value = row ? figure(row) : null;
    if (value === null || value === undefined) {
      // Why, where a failure says: the case's own, or for a share of B0 the baseline's.
      const why = row ? (figure === ratio ? failureOf(rows, "B0") : undefined) : failureOf(rows, caseId);
      return { target, reached: why === undefined ? "not measured" : `not measured: ${why}`, met: null };
    }
    const elsewhere = notFor?.(row!);
    if (elsewhere !== undefined) return { target, reached: format(value), met: null, context: elsewhere };
    const note = context?.(row!, rows);
    return { target, reached: format(value), met: met(value), ...(note === undefined ? {} : { context: note }) };
  });
  // Every service under load, in every round (a ceiling, not a typical figure): each row's RSS is
  // the largest of its case's services (B0's echo server is no service of ours).
  const target = `every service's RSS under load at most ${RSS_LIMIT_MB} MB`;
  let largest: { mb: number; row: CaseRow } | undefined;
  for (const row of rows) {
    if (row.status !== "ok" || row.case === "B0" || typeof row.rss_mb !== "number") continue;
    const rounds = Array.isArray(row.rounds_rss_mb) ? (row.rounds_rss_mb as unknown[]).filter((mb): mb is number => typeof mb === "number") : [];
    const mb = Math.max(row.rss_mb, ...rounds);
    if (largest === undefined || mb > largest.mb) largest = { mb, row };
  }
  verdicts.push(largest === undefined
    ? { target, reached: "not measured", met: null }
    : { target, reached: `${largest.mb.toFixed(0)} MB at most (${largest.row.case} at ${largest.row.in_flight} in flight)`, met: largest.mb <= RSS_LIMIT_MB });
  return verdicts;
}

/** The verdicts as lines for the terminal. */
export function verdictLines(verdicts: readonly TargetVerdict[]): string[] {
  const width = Math.max(...verdicts.map((verdict) => verdict.target.length));
  return verdicts.map(({ target, reached, met, context }) =>
    `  ${met === null ? "—     " : met ? "met   " : "MISSED"}  ${target.padEnd(width)}  ${reached}${context ? ` (${context})` : ""}`);
}

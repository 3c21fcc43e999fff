// bench/pairs.ts: the alternating runs of docs/performance.md's experiments. What it computes from
// run.ts's results files (the runs themselves are run.ts, which the smoke test covers).
import { describe, expect, it } from "vitest";
import { formatMeans, formatRows, meansOf, parseVariant, rowsOf, runOptions } from "../../bench/pairs.js";

const run = (b0: number, b1: number, p99: number, cpu: number) => ({
  cases: [
    { case: "B0", status: "ok", in_flight: 32, throughput_per_s: b0, ratio_to_b0: 1, p50_ms: 5, p99_ms: 20, cpu_ms_per_call: 0.06, machine_cpu_util: 0.6, errors: 0 },
    { case: "B1", status: "ok", in_flight: 32, throughput_per_s: b1, ratio_to_b0: b1 / b0, p50_ms: 11, p99_ms: p99, cpu_ms_per_call: cpu, machine_cpu_util: 0.8, errors: 0 },
    { case: "B5", status: "failed", in_flight: null, throughput_per_s: null, p50_ms: null, p99_ms: null, errors: null },
    { case: "B4", status: "not yet built", in_flight: null, throughput_per_s: null, p50_ms: null, p99_ms: null, errors: null },
  ],
});

describe("bench/pairs.ts", () => {
  it("reads a variant as NAME=value settings, and refuses anything else", () => {
    expect(parseVariant("")).toEqual({});
    expect(parseVariant(" ANSWERS_PER_TURN=0  XLG=--a=b ")).toEqual({ ANSWERS_PER_TURN: "0", XLG: "--a=b" });
    expect(() => parseVariant("ANSWERS_PER_TURN")).toThrow(/"ANSWERS_PER_TURN" is not one/);
    expect(() => parseVariant("1X=2")).toThrow(/NAME=value/);
    // run.ts's own options go after `--`: bench:pairs passes them as options, which would win over a variant's.
    expect(() => parseVariant("BENCH_DURATION_S=5")).toThrow(/BENCH_DURATION_S is one of run.ts's options.*after `--`/);
    expect(parseVariant("BENCH_B3_CALLS_PER_TURN=0 BENCH_B4_TRANSFERS=100000")).toEqual({ BENCH_B3_CALLS_PER_TURN: "0", BENCH_B4_TRANSFERS: "100000" });
  });

  it("keeps the measured rows of a run, B0's share as none", () => {
    const rows = rowsOf(run(6000, 3000, 28, 0.35), "A=1", 2, 1);
    expect(rows.map((row) => [row.case, row.variant, row.variantIndex, row.pair, row.ratio_to_b0])).toEqual([["B0", "A=1", 1, 2, null], ["B1", "A=1", 1, 2, 0.5]]);
  });

  it("averages each variant's runs per case, over the pairs", () => {
    const rows = [
      ...rowsOf(run(6000, 3000, 30, 0.4), "", 1, 0), ...rowsOf(run(5000, 3000, 26, 0.3), "A=1", 1, 1),
      ...rowsOf(run(4000, 2400, 34, 0.5), "", 2, 0), ...rowsOf(run(5000, 2000, 30, 0.5), "A=1", 2, 1),
    ];
    const means = meansOf(rows);
    expect(means.map((row) => [row.variant, row.case, row.runs])).toEqual([["", "B0", 2], ["", "B1", 2], ["A=1", "B0", 2], ["A=1", "B1", 2]]);
    const b1 = means.find((row) => row.variant === "A=1" && row.case === "B1")!;
    expect(b1.throughput_per_s).toBe(2500);
    expect(b1.ratio_to_b0).toBeCloseTo((0.6 + 0.4) / 2, 10);
    expect(b1.p99_ms).toBe(28);
    expect(b1.cpu_ms_per_call).toBeCloseTo(0.4, 10);
    expect(means.find((row) => row.variant === "" && row.case === "B0")!.ratio_to_b0).toBeNull();
    expect(formatMeans(means)[3]).toBe("#2 A=1  B1 @ 32  2 runs  2500.0/s  50.0%  p99 28.0 ms  server 0.400 ms/unit");
    expect(formatMeans(means)[0]).toMatch(/^#1 \(as is\)  B0 @ 32  2 runs  5000\.0\/s  —/);
  });

  it("keeps two identical variants apart (an A/A check of the noise), by their place", () => {
    const rows = [...rowsOf(run(6000, 3000, 30, 0.4), "", 1, 0), ...rowsOf(run(5000, 2000, 26, 0.3), "", 1, 1)];
    const means = meansOf(rows);
    expect(means.map((row) => [row.variantIndex, row.case, row.runs, row.throughput_per_s])).toEqual([[0, "B0", 1, 6000], [0, "B1", 1, 3000], [1, "B0", 1, 5000], [1, "B1", 1, 2000]]);
    expect(formatMeans(means)[3]).toMatch(/^#2 \(as is\)  B1 @ 32  1 runs  2000\.0\/s  40\.0%/);
  });

  it("shows a run's failed calls with its rows and in the means", () => {
    const base = run(6000, 3000, 30, 0.4);
    const failing = { cases: base.cases.map((row) => (row.case === "B1" ? { ...row, errors: 7 } : row)) };
    const rows = rowsOf(failing, "A=1", 1, 1);
    expect(formatRows(rows)[1]).toMatch(/^#2 A=1  pair 1  B1 @ 32  3000\.0\/s  50\.0%  p50 11\.0  p99 30\.0 ms  server 0\.400 ms\/unit  machine 80\.0%  7 errors$/);
    expect(formatMeans(meansOf(rows))[1]).toMatch(/  7 errors$/);
  });

  it("passes run.ts the short-run defaults, each replaced by an option given", () => {
    expect(runOptions([])).toEqual(["--cases", "B0,B1", "--in-flight", "32", "--rounds", "1", "--duration-s", "10", "--warmup-s", "3", "--server-warmup-s", "8"]);
    expect(runOptions(["--cases", "B3", "--duration-s=20"])).toEqual(["--in-flight", "32", "--rounds", "1", "--warmup-s", "3", "--server-warmup-s", "8", "--cases", "B3", "--duration-s=20"]);
  });
});

// bench/pairs.ts: the alternating runs of docs/performance.md's experiments. What it computes from
// run.ts's results files (the runs themselves are run.ts, which the smoke test covers).
import { describe, expect, it } from "vitest";
import { formatMeans, meansOf, parseVariant, rowsOf, runOptions } from "../../bench/pairs.js";

const run = (b0: number, b1: number, p99: number, cpu: number) => ({
  cases: [
    { case: "B0", status: "ok", in_flight: 32, throughput_per_s: b0, ratio_to_b0: 1, p50_ms: 5, p99_ms: 20, cpu_ms_per_call: 0.06, machine_cpu_util: 0.6, errors: 0 },
    { case: "B1", status: "ok", in_flight: 32, throughput_per_s: b1, ratio_to_b0: b1 / b0, p50_ms: 11, p99_ms: p99, cpu_ms_per_call: cpu, machine_cpu_util: 0.8, errors: 0 },
    { case: "B5", status: "skipped", in_flight: 32, throughput_per_s: 0, p50_ms: 0, p99_ms: 0, errors: 0 },
  ],
});

describe("bench/pairs.ts", () => {
  it("reads a variant as NAME=value settings, and refuses anything else", () => {
    expect(parseVariant("")).toEqual({});
    expect(parseVariant(" ANSWERS_PER_TURN=0  XLG=--a=b ")).toEqual({ ANSWERS_PER_TURN: "0", XLG: "--a=b" });
    expect(() => parseVariant("ANSWERS_PER_TURN")).toThrow(/"ANSWERS_PER_TURN" is not one/);
    expect(() => parseVariant("1X=2")).toThrow(/NAME=value/);
  });

  it("keeps the measured rows of a run, B0's share as none", () => {
    const rows = rowsOf(run(6000, 3000, 28, 0.35), "A=1", 2);
    expect(rows.map((row) => [row.case, row.variant, row.pair, row.ratio_to_b0])).toEqual([["B0", "A=1", 2, null], ["B1", "A=1", 2, 0.5]]);
  });

  it("averages each variant's runs per case, over the pairs", () => {
    const rows = [
      ...rowsOf(run(6000, 3000, 30, 0.4), "", 1), ...rowsOf(run(5000, 3000, 26, 0.3), "A=1", 1),
      ...rowsOf(run(4000, 2400, 34, 0.5), "", 2), ...rowsOf(run(5000, 2000, 30, 0.5), "A=1", 2),
    ];
    const means = meansOf(rows);
    expect(means.map((row) => [row.variant, row.case, row.runs])).toEqual([["", "B0", 2], ["", "B1", 2], ["A=1", "B0", 2], ["A=1", "B1", 2]]);
    const b1 = means.find((row) => row.variant === "A=1" && row.case === "B1")!;
    expect(b1.throughput_per_s).toBe(2500);
    expect(b1.ratio_to_b0).toBeCloseTo((0.6 + 0.4) / 2, 10);
    expect(b1.p99_ms).toBe(28);
    expect(b1.cpu_ms_per_call).toBeCloseTo(0.4, 10);
    expect(means.find((row) => row.variant === "" && row.case === "B0")!.ratio_to_b0).toBeNull();
    expect(formatMeans(means)[3]).toBe("A=1  B1 @ 32  2 runs  2500.0/s  50.0%  p99 28.0 ms  server 0.400 ms/unit");
    expect(formatMeans(means)[0]).toMatch(/^\(as is\)  B0 @ 32  2 runs  5000\.0\/s  —/);
  });

  it("passes run.ts the short-run defaults, each replaced by an option given", () => {
    expect(runOptions([])).toEqual(["--cases", "B0,B1", "--in-flight", "32", "--rounds", "1", "--duration-s", "10", "--warmup-s", "3", "--server-warmup-s", "8"]);
    expect(runOptions(["--cases", "B3", "--duration-s=20"])).toEqual(["--in-flight", "32", "--rounds", "1", "--warmup-s", "3", "--server-warmup-s", "8", "--cases", "B3", "--duration-s=20"]);
  });
});

// The harness's verdicts on issue 7's targets (bench/targets.ts): a pure function of the rows.
import { describe, expect, it } from "vitest";
import type { CaseRow } from "../../bench/harness.js";
import { judgeTargets, thousands, verdictLines } from "../../bench/targets.js";

function row(caseId: string, inFlight: number, figures: Partial<CaseRow> = {}): CaseRow {
  return {
    case: caseId, title: caseId, status: "ok", in_flight: inFlight, throughput_per_s: 1_000, ratio_to_b0: caseId === "B0" ? 1 : null,
    p50_ms: 10, p99_ms: 20, cpu_ms_per_call: 0.4, rss_mb: 100, calls: 10_000, errors: 0, duration_s: 10, ...figures,
  } as CaseRow;
}

/** A run where every target holds, at its edge where the target allows equality. */
function passingRun(): CaseRow[] {
  return [
    row("B0", 32, { rss_mb: 500 }), // the echo server is no service of ours: its memory is not judged
    row("B1", 1, { ratio_to_b0: 0.3, p99_ms: 6 }),
    row("B1", 32, { ratio_to_b0: 0.5, p99_ms: 25 }),
    row("B1", 128, { ratio_to_b0: 0.6, p99_ms: 97 }),
    row("B2", 32, { ratio_to_b0: 0.25 }),
    row("B3", 32, { ratio_to_b0: 0.07, p99_ms: 150 }),
    row("B4", 1, { p50_ms: 2_000, p99_ms: 2_000, rss_mb: 200, transfers: 1_000_000 }),
    row("B5", 32, { ratio_to_b0: 0.25 }),
  ];
}

const byTarget = (rows: CaseRow[]) => Object.fromEntries(judgeTargets(rows).map((verdict) => [verdict.target, verdict]));

describe("issue 7's targets judged on a run's rows", () => {
  it("meets every target at its edge", () => {
    const verdicts = judgeTargets(passingRun());
    expect(verdicts).toHaveLength(8);
    expect(verdicts.filter((verdict) => verdict.met !== true)).toEqual([]);
    expect(byTarget(passingRun())["B1 at 32 in flight: at least 50% of B0"]!.reached).toBe("50.0%");
    expect(byTarget(passingRun())["every service's RSS under load at most 200 MB"]!.reached).toBe("200 MB at most (B4 at 1 in flight)");
  });

  it("misses a share just under its target, and prints it with the decimal that shows it", () => {
    const rows = passingRun().map((candidate) => (candidate.case === "B2" ? { ...candidate, ratio_to_b0: 0.246 } : candidate));
    const verdict = byTarget(rows)["B2: at least 25% of B0"]!;
    expect(verdict).toEqual({ target: "B2: at least 25% of B0", reached: "24.6%", met: false });
  });

  it("judges the p99s, B4's close and the memory of every service's row, at 32 in flight where the target says so", () => {
    const rows = passingRun().map((candidate) => {
      if (candidate.case === "B1" && candidate.in_flight === 32) return { ...candidate, p99_ms: 36.4 };
      if (candidate.case === "B3") return { ...candidate, p99_ms: 150.1 };
      if (candidate.case === "B4") return { ...candidate, p99_ms: 2_000.5 };
      if (candidate.case === "B1" && candidate.in_flight === 128) return { ...candidate, rss_mb: 201 };
      return candidate;
    });
    const verdicts = byTarget(rows);
    expect(verdicts["B1 at 32 in flight: p99 at most 25 ms"]).toMatchObject({ reached: "36.4 ms", met: false });
    expect(verdicts["B1 at 32 in flight: at least 50% of B0"]!.met).toBe(true);
    expect(verdicts["B3: p99 at most 150 ms"]).toMatchObject({ reached: "150.1 ms", met: false });
    expect(verdicts["B4: the close at most 2 s"]).toMatchObject({ reached: "2000.5 ms", met: false });
    expect(verdicts["every service's RSS under load at most 200 MB"]).toMatchObject({ reached: "201 MB at most (B1 at 128 in flight)", met: false });
  });

  it("judges B4's close only on the window the target is for, 1,000,000 transfers; another size is shown, not judged", () => {
    const sized = (transfers: unknown) => byTarget(passingRun().map((candidate) => (candidate.case === "B4" ? { ...candidate, p99_ms: 242.4, transfers } : candidate)));
    expect(sized(1_000_000)["B4: the close at most 2 s"]).toEqual({ target: "B4: the close at most 2 s", reached: "242.4 ms", met: true });
    expect(sized(100_000)["B4: the close at most 2 s"]).toEqual({
      target: "B4: the close at most 2 s", reached: "242.4 ms", met: null, context: "not judged: the window held 100,000 transfers, the target is for 1,000,000",
    });
    expect(sized(undefined)["B4: the close at most 2 s"]).toMatchObject({ met: null, context: "not judged: the window held an unknown number of transfers, the target is for 1,000,000" });
    expect(verdictLines(judgeTargets(passingRun().map((candidate) => (candidate.case === "B4" ? { ...candidate, transfers: 10_000 } : candidate))))[5])
      .toMatch(/^  —\s+B4: the close at most 2 s\s+2000\.0 ms \(not judged: the window held 10,000 transfers/);
    expect([1, 999, 1_000, 12_345, 1_000_000, 123_456_789].map(thousands)).toEqual(["1", "999", "1,000", "12,345", "1,000,000", "123,456,789"]);
  });

  it("judges memory in every round, not only the round a row was chosen from", () => {
    const rows = passingRun().map((candidate) => (candidate.case === "B3" ? { ...candidate, rss_mb: 131, rounds_rss_mb: [131, 212.4, 140] } : candidate));
    expect(byTarget(rows)["every service's RSS under load at most 200 MB"]).toMatchObject({ reached: "212 MB at most (B3 at 32 in flight)", met: false });
    const within = passingRun().map((candidate) => (candidate.case === "B3" ? { ...candidate, rss_mb: 131, rounds_rss_mb: [131, 190, null] } : candidate));
    expect(byTarget(within)["every service's RSS under load at most 200 MB"]).toMatchObject({ reached: "200 MB at most (B4 at 1 in flight)", met: true });
  });

  it("gives each p99 verdict what bounds it in the same run: the p50 and rate, and for B1 B0's p99 at the same in-flight count", () => {
    const rows = passingRun().map((candidate) => {
      if (candidate.case === "B0") return { ...candidate, p99_ms: 25.68 };
      if (candidate.case === "B1" && candidate.in_flight === 32) return { ...candidate, p50_ms: 20.42, p99_ms: 55.85, throughput_per_s: 1_481.3 };
      if (candidate.case === "B3") return { ...candidate, p50_ms: 158.52, p99_ms: 219.39, throughput_per_s: 201.6 };
      return candidate;
    });
    const verdicts = byTarget(rows);
    expect(verdicts["B1 at 32 in flight: p99 at most 25 ms"]).toEqual({
      target: "B1 at 32 in flight: p99 at most 25 ms", reached: "55.9 ms", met: false, context: "p50 20.4 ms at 1481/s; B0's own p99 25.7 ms, itself over 25 ms",
    });
    // B0 at the target itself is not over it.
    const b0AtTarget = byTarget(rows.map((candidate) => (candidate.case === "B0" ? { ...candidate, p99_ms: 25 } : candidate)));
    expect(b0AtTarget["B1 at 32 in flight: p99 at most 25 ms"]!.context).toBe("p50 20.4 ms at 1481/s; B0's own p99 25.0 ms");
    expect(verdicts["B3: p99 at most 150 ms"]!.context).toBe("p50 158.5 ms at 202/s"); // a payment is many hops, not one
    // Without B0 in the run, only the case's own figures; B4 and memory carry no context.
    const withoutB0 = byTarget(rows.filter((candidate) => candidate.case !== "B0"));
    expect(withoutB0["B1 at 32 in flight: p99 at most 25 ms"]!.context).toBe("p50 20.4 ms at 1481/s");
    expect(verdicts["B1 at 32 in flight: at least 50% of B0"]).not.toHaveProperty("context"); // one round: nothing to add
    expect(verdicts["B4: the close at most 2 s"]).not.toHaveProperty("context");
  });

  it("gives each share of B0 its rounds' shares when the run had several, a round without B0 as a dash", () => {
    const rows = passingRun().map((candidate) => {
      if (candidate.case === "B1" && candidate.in_flight === 32) return { ...candidate, ratio_to_b0: 0.472, rounds_ratio_to_b0: [0.458, 0.532, 0.469] };
      if (candidate.case === "B2") return { ...candidate, rounds_ratio_to_b0: [0.218, null, 0.244] };
      if (candidate.case === "B5") return { ...candidate, rounds_ratio_to_b0: [0.3] };
      return candidate;
    });
    const verdicts = byTarget(rows);
    expect(verdicts["B1 at 32 in flight: at least 50% of B0"]).toEqual({
      target: "B1 at 32 in flight: at least 50% of B0", reached: "47.2%", met: false, context: "rounds 45.8%, 53.2%, 46.9%",
    });
    expect(verdicts["B2: at least 25% of B0"]!.context).toBe("rounds 21.8%, —, 24.4%");
    expect(verdicts["B5: at least 25% of B0"]).not.toHaveProperty("context");
    expect(verdicts["B3: at least 7% of B0"]).not.toHaveProperty("context");
    expect(verdictLines(judgeTargets(rows))[0]).toMatch(/MISSED\s+B1 at 32 in flight: at least 50% of B0\s+47\.2% \(rounds 45\.8%, 53\.2%, 46\.9%\)$/);
  });

  it("says 'not measured' for a case the run did not select, one that failed, or a share without B0", () => {
    const rows = passingRun()
      .filter((candidate) => candidate.case !== "B3")
      .map((candidate) => (candidate.case === "B5" ? { ...candidate, status: "failed" as const, error: "B5 needs PostgreSQL …: connect ECONNREFUSED 127.0.0.1:1\n    at TCPConnectWrap" } : candidate.case === "B2" ? { ...candidate, ratio_to_b0: null } : candidate));
    const verdicts = byTarget(rows);
    for (const target of ["B3: at least 7% of B0", "B3: p99 at most 150 ms", "B2: at least 25% of B0"]) {
      expect(verdicts[target]).toEqual({ target, reached: "not measured", met: null });
    }
    expect(verdicts["B5: at least 25% of B0"]).toEqual({ target: "B5: at least 25% of B0", reached: "not measured: B5 failed: B5 needs PostgreSQL …: connect ECONNREFUSED 127.0.0.1:1", met: null });
    // A share whose baseline failed says so; a failure without a message, and a long one, are still one short line.
    const b0Failed = passingRun().map((candidate) => (candidate.case === "B0" ? { ...candidate, status: "failed" as const, error: "x".repeat(300) } : { ...candidate, ratio_to_b0: null }));
    expect(byTarget(b0Failed)["B2: at least 25% of B0"]!.reached).toBe(`not measured: B0 failed: ${"x".repeat(159)}…`);
    expect(byTarget(b0Failed)["B3: p99 at most 150 ms"]!.met).toBe(true); // a p99 needs no baseline
    const silent = passingRun().map((candidate) => (candidate.case === "B3" ? { ...candidate, status: "failed" as const } : candidate));
    expect(byTarget(silent)["B3: p99 at most 150 ms"]!.reached).toBe("not measured: B3 failed");
    expect(judgeTargets([row("B0", 32)]).at(-1)).toMatchObject({ reached: "not measured", met: null });
  });

  it("prints one line per target, a miss in capitals", () => {
    const rows = passingRun().map((candidate) => (candidate.case === "B1" && candidate.in_flight === 32 ? { ...candidate, p99_ms: 36.4 } : candidate));
    const lines = verdictLines(judgeTargets(rows));
    expect(lines).toHaveLength(8);
    expect(lines.filter((line) => line.includes("MISSED"))).toEqual([
      expect.stringMatching(/MISSED\s+B1 at 32 in flight: p99 at most 25 ms\s+36\.4 ms \(p50 10\.0 ms at 1000\/s; B0's own p99 20\.0 ms\)$/),
    ]);
    expect(lines.filter((line) => line.trimStart().startsWith("met"))).toHaveLength(7);
  });
});

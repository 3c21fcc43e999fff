// bench/b4.ts: the size of B4's window, which issue 7's target fixes at 1,000,000 transfers, and
// how the harness names and refuses other sizes.
import { execFile } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { b4TransferCount } from "../../bench/b4.js";
import { CASES } from "../../bench/cases.js";

const root = path.resolve(import.meta.dirname, "../..");
const saved = process.env.BENCH_B4_TRANSFERS;
afterEach(() => {
  if (saved === undefined) delete process.env.BENCH_B4_TRANSFERS;
  else process.env.BENCH_B4_TRANSFERS = saved;
});
const withSize = (text: string | undefined) => {
  if (text === undefined) delete process.env.BENCH_B4_TRANSFERS;
  else process.env.BENCH_B4_TRANSFERS = text;
};
const b4 = CASES.find((entry) => entry.id === "B4")!;
const context = (smoke: boolean) => ({ smoke });

describe("B4's window size", () => {
  it("is 1,000,000 transfers, 10,000 in a smoke run, and BENCH_B4_TRANSFERS's whole number otherwise", () => {
    withSize(undefined);
    expect(b4TransferCount({ smoke: false })).toBe(1_000_000);
    expect(b4TransferCount({ smoke: true })).toBe(10_000);
    withSize("");
    expect(b4TransferCount({ smoke: false })).toBe(1_000_000);
    withSize("100000");
    expect(b4TransferCount({ smoke: false })).toBe(100_000);
    expect(b4TransferCount({ smoke: true })).toBe(100_000);
  });

  it("refuses a BENCH_B4_TRANSFERS that is no whole number of at least 10, instead of quietly closing a million", () => {
    for (const text of ["abc", "9", "0", "-5", "1.5", "1e30", "1e6", "0x10", " 100 ", "1234567890123456"]) {
      withSize(text);
      expect(() => b4TransferCount({ smoke: false }), text).toThrow(`BENCH_B4_TRANSFERS must be a whole number of at least 10, got ${text}`);
    }
  });

  it("names the window's size in the case's title", () => {
    withSize(undefined);
    expect(b4.title).toBe("close a settlement window of 1,000,000 transfers among 100 participants");
    expect(b4.titleOf!(context(false))).toBe(b4.title);
    expect(b4.titleOf!(context(true))).toBe("close a settlement window of 10,000 transfers among 100 participants");
    withSize("250000");
    expect(b4.titleOf!(context(false))).toBe("close a settlement window of 250,000 transfers among 100 participants");
  });

  it("npm run bench refuses a malformed size before it starts anything", async () => {
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", "bench/run.ts", "--cases", "B4", "--out", "/nonexistent/never-written.json"], {
        cwd: root, timeout: 60_000, env: { ...process.env, BENCH_B4_TRANSFERS: "lots", BENCH_SOURCES: "1" },
      }, (error, _stdout, stderrText) => resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stderr: stderrText }));
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain("BENCH_B4_TRANSFERS must be a whole number of at least 10, got lots");
    expect(stderr).not.toContain("clearmesh bench:");
  }, 60_000);
});

// bench/profile-summary.ts: how the CPU profiles quoted in docs/performance.md are summarised, and
// how the command refuses what it cannot read.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatSummary, groupOf, profileSummaryCommand, readProfile, summarise, type CpuProfile } from "../../bench/profile-summary.js";

const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });

/** Root, idle, a sign in packages/trust, a protobuf function and the collector; samples 1 ms apart. */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)", ""), children: [2, 3, 4, 5] },
    { id: 2, callFrame: frame("(idle)", "") },
    { id: 3, callFrame: frame("sign", "file:///work/main/packages/trust/src/keys.ts", 94) },
    { id: 4, callFrame: frame("encode", "file:///work/main/node_modules/@bufbuild/protobuf/dist/esm/wire/binary-encoding.js", 9) },
    { id: 5, callFrame: frame("(garbage collector)", "") },
  ],
  startTime: 0,
  endTime: 10_000,
  // A sample lasts until the next: the first (idle) gets the second delta, and so on; the last gets none.
  samples: [2, 2, 3, 3, 3, 4, 5, 2],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-profile-summary-"));
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = path.join(folder, name);
  fs.writeFileSync(file, text);
  return file;
};

describe("bench/profile-summary.ts", () => {
  it("groups code by where it lives", () => {
    expect(groupOf(frame("sign", "file:///x/packages/trust/src/keys.ts"))).toBe("packages/trust");
    expect(groupOf(frame("f", "file:///x/services/clearing/src/engine/persist.ts"))).toBe("services/clearing");
    expect(groupOf(frame("f", "file:///x/node_modules/@bufbuild/protobuf/dist/esm/create.js"))).toBe("@bufbuild/protobuf");
    expect(groupOf(frame("f", "file:///x/node_modules/nats/lib/nats-base-client/protocol.js"))).toBe("nats");
    expect(groupOf(frame("sign", "node:internal/crypto/sig"))).toBe("node:crypto");
    expect(groupOf(frame("(garbage collector)", ""))).toBe("(garbage collector)");
    expect(groupOf(frame("postMessage", ""))).toBe("(native)");
  });

  it("counts each sample until the next one, and idle time apart from the busy time", () => {
    const summary = summarise(profile);
    expect(summary.totalMs).toBe(7);
    expect(summary.idleMs).toBe(2);
    expect(summary.functions.map((entry) => [entry.name, entry.selfMs, entry.group])).toEqual([
      ["sign", 3, "packages/trust"], ["encode", 1, "@bufbuild/protobuf"], ["(garbage collector)", 1, "(garbage collector)"],
    ]);
    expect(summary.functions[0]!.location).toBe("packages/trust/src/keys.ts:95");
    // Code on one line (tsx's output) is located by its file alone.
    const oneLine = summarise({ ...profile, nodes: profile.nodes.map((node) => (node.id === 3 ? { ...node, callFrame: { ...node.callFrame, lineNumber: 0, columnNumber: 2662 } } : node)) });
    expect(oneLine.functions[0]!.location).toBe("packages/trust/src/keys.ts");
    const text = formatSummary(summary, 2);
    expect(text).toContain("profile: 0.0 s sampled, 0.0 s busy (71%), percentages of busy time");
    expect(text).toMatch(/1\.\s+3 ms\s+60\.0%\s+sign\s+\(packages\/trust\/src\/keys\.ts:95\)/);
    expect(text).toContain("top 2 functions");
    // --top cuts both lists: with 1, only the largest function and group.
    const first = formatSummary(summary, 1);
    expect(first).toContain("sign");
    expect(first).toContain("packages/trust");
    expect(first).not.toMatch(/encode|@bufbuild|garbage collector/);
  });

  it("summarises one file, or several each under its name", () => {
    const one = write("one.cpuprofile", JSON.stringify(profile));
    const two = write("two.cpuprofile", JSON.stringify({ ...profile, samples: [4, 4, 4], timeDeltas: [0, 1000, 1000] }));
    expect(profileSummaryCommand([one, "--top", "1"])).toMatch(/^profile: .*\n\ntop 1 functions by self time:\n\s+1\.\s+3 ms/);
    const both = profileSummaryCommand([one, two]);
    expect(both).toContain(`== ${one}\n`);
    expect(both).toContain(`== ${two}\n`);
    expect(both.split(`== ${two}\n`)[1]).toMatch(/1\.\s+2 ms\s+100\.0%\s+encode/);
    expect(profileSummaryCommand(["--help"])).toMatch(/^Summarises a V8 \.cpuprofile/);
  });

  it("refuses what it cannot use, naming it", () => {
    expect(() => profileSummaryCommand([])).toThrow(/at least one \.cpuprofile/);
    expect(() => profileSummaryCommand(["x.cpuprofile", "--top", "0"])).toThrow(/--top must be a positive integer, got 0/);
    expect(() => profileSummaryCommand(["x.cpuprofile", "--top", "many"])).toThrow(/got many/);
    expect(() => profileSummaryCommand(["x.cpuprofile", "--tpo", "3"])).toThrow(/--tpo/);
    expect(() => readProfile(path.join(folder, "absent.cpuprofile"))).toThrow(/cannot read .*absent\.cpuprofile: ENOENT/);
    expect(() => readProfile(write("text.cpuprofile", "not json"))).toThrow(/text\.cpuprofile is not JSON/);
    expect(() => readProfile(write("other.json", JSON.stringify({ cases: [] })))).toThrow(/other\.json is not a V8 CPU profile .*lacks nodes/);
  });
});

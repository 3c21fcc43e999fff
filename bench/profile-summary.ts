// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the top functions by self time, and
// self time grouped by where the code lives (a package of this repo, a dependency, node itself).
//
//   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 15]
import fs from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  location: string;
  group: string;
  selfMs: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  functions: FunctionTime[];
  groups: Array<{ group: string; selfMs: number }>;
}

/** Where a script lives: a workspace package, a dependency, node's own code, or a V8 pseudo-frame. */
export function groupOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1]!;
  const workspace = /\/(packages|services|bench)\/([^/]+)\//.exec(url);
  if (workspace) return workspace[1] === "bench" ? "bench" : `${workspace[1]}/${workspace[2]}`;
  // node:internal/crypto/sig → node:crypto; node:events → node:events
  if (url.startsWith("node:")) return `node:${url.slice(5).replace(/^internal\//, "").split("/")[0]!.replace(/\.js$/, "")}`;
  return url;
}

export function summarise(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // A sample lasts until the next one (as DevTools counts it).
  for (let i = 0; i < profile.samples.length; i++) {
    const duration = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + Math.max(0, duration));
  }
  const functions = new Map<string, FunctionTime>();
  const groups = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    totalUs += us;
    if (frame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const file = frame.url.replace(/^file:\/\//, "").replace(/^.*\/(node_modules|packages|services|bench)\//, "$1/");
    const location = frame.url === "" ? "" : `${file}:${frame.lineNumber + 1}`;
    const name = frame.functionName || "(anonymous)";
    const key = `${name}@${location}`;
    const entry = functions.get(key) ?? { name, location, group: groupOf(frame), selfMs: 0 };
    entry.selfMs += us / 1000;
    functions.set(key, entry);
    groups.set(entry.group, (groups.get(entry.group) ?? 0) + us / 1000);
  }
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs),
    groups: [...groups.entries()].map(([group, selfMs]) => ({ group, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function formatSummary(summary: ProfileSummary, top: number): string {
  const busy = summary.totalMs - summary.idleMs;
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)}%`.padStart(6);
  const lines = [
    `profile: ${(summary.totalMs / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (${((busy / summary.totalMs) * 100).toFixed(0)}%), percentages of busy time`,
    "",
    `top ${top} functions by self time:`,
    ...summary.functions.slice(0, top).map((entry, index) =>
      `${String(index + 1).padStart(3)}. ${entry.selfMs.toFixed(0).padStart(7)} ms ${pct(entry.selfMs)}  ${entry.name}  ${entry.location ? `(${entry.location})` : ""}`.trimEnd()),
    "",
    "self time by where the code lives:",
    ...summary.groups.slice(0, top).map((entry) => `${entry.selfMs.toFixed(0).padStart(12)} ms ${pct(entry.selfMs)}  ${entry.group}`),
  ];
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "15" } } });
  const file = positionals[0];
  if (!file) {
    process.stderr.write("usage: profile-summary.ts <file.cpuprofile> [--top 15]\n");
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  process.stdout.write(`${formatSummary(summarise(profile), Number(values.top))}\n`);
}

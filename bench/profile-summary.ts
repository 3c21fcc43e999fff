// Summarises a V8 .cpuprofile (from `node --cpu-prof`, as `npm run bench -- --profile <dir>`
// writes them): the top functions by self time, and self time grouped by where the code lives (a
// package of this repo, a dependency, node itself). Percentages are of the busy (not idle) time.
//
//   node --import tsx bench/profile-summary.ts <file.cpuprofile> [more files…] [--top 15]
//
// Several files are summarised one after the other, each under its name.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { scriptHelp } from "./help.js";

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

export interface CpuProfile {
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
    // tsx (BENCH_SOURCES=1) hands V8 each module's code on one line: a line number would say nothing there.
    const oneLine = frame.lineNumber === 0 && frame.columnNumber > 0;
    const location = frame.url === "" ? "" : oneLine ? file : `${file}:${frame.lineNumber + 1}`;
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

/** Reads a .cpuprofile, refusing (with the file's name) anything that is not one. */
export function readProfile(file: string): CpuProfile {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let profile: unknown;
  try {
    profile = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON, so not a V8 CPU profile (.cpuprofile)`);
  }
  const candidate = profile as Partial<CpuProfile> | null;
  if (!candidate || !Array.isArray(candidate.nodes) || !Array.isArray(candidate.samples) || !Array.isArray(candidate.timeDeltas)) {
    throw new Error(`${file} is not a V8 CPU profile (.cpuprofile): it lacks nodes, samples or timeDeltas`);
  }
  return candidate as CpuProfile;
}

/** The command: its output for these arguments; a usage mistake throws, with what to do. */
export function profileSummaryCommand(args: readonly string[]): string {
  const { values, positionals } = parseArgs({
    args: [...args], allowPositionals: true, options: { top: { type: "string", default: "15" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return scriptHelp(import.meta.url);
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 1) throw new Error(`--top must be a positive integer, got ${values.top}`);
  if (positionals.length === 0) throw new Error("give at least one .cpuprofile file (--help tells more)");
  const summaries = positionals.map((file) => formatSummary(summarise(readProfile(file)), top));
  if (summaries.length === 1) return `${summaries[0]}\n`;
  return `${summaries.map((summary, index) => `== ${positionals[index]}\n${summary}\n`).join("\n")}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(profileSummaryCommand(process.argv.slice(2)));
  } catch (error) {
    process.stderr.write(`profile-summary: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}

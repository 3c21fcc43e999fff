// A bench script's `--help`: the comment block it opens with. Kept apart from bench/harness.ts,
// which loads the services' code, so that a small tool (bench/profile-summary.ts) prints its help
// without loading them.
import fs from "node:fs";

/** The script's leading `//` comment lines, without the slashes: the block before its first other line. */
export function scriptHelp(scriptUrl: string): string {
  const lines = fs.readFileSync(new URL(scriptUrl), "utf8").split("\n");
  const end = lines.findIndex((line) => !line.startsWith("//"));
  return `${lines.slice(0, end === -1 ? lines.length : end).map((line) => line.replace(/^\/\/ ?/, "")).join("\n")}\n`;
}

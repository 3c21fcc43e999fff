// bench/help.ts: a bench script's --help is the comment block it opens with, not every comment in it.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { scriptHelp } from "../../bench/help.js";

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-help-"));
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }));

describe("scriptHelp", () => {
  it("prints the leading comment block without its slashes, and none of the comments further on", () => {
    const file = path.join(folder, "tool.ts");
    fs.writeFileSync(file, "// `tool`: does a thing.\n//\n//   tool <file> [--top 15]\n//no space after the slashes\nimport fs from \"node:fs\";\n// an internal remark\nconst x = 1;\n");
    expect(scriptHelp(pathToFileURL(file).href)).toBe("`tool`: does a thing.\n\n  tool <file> [--top 15]\nno space after the slashes\n");
  });

  it("is the whole file when the file is all comment", () => {
    const file = path.join(folder, "notes.ts");
    fs.writeFileSync(file, "// one\n// two");
    expect(scriptHelp(pathToFileURL(file).href)).toBe("one\ntwo\n");
  });

  it("serves the bench scripts' own --help", () => {
    for (const script of ["run.ts", "pairs.ts", "profile-summary.ts"]) {
      const help = scriptHelp(pathToFileURL(path.resolve(import.meta.dirname, "../../bench", script)).href);
      expect(help, script).not.toMatch(/^import /m);
      expect(help.split("\n").length, script).toBeGreaterThan(4);
    }
  });
});

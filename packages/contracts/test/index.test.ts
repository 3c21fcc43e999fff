// The index must list every generated clearmesh file, or reflection would not serve it.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { clearmeshFiles } from "@clearmesh/contracts";

function generatedProtoNames(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return generatedProtoNames(full, base);
    return entry.name.endsWith("_pb.ts") ? [path.relative(base, full).replace(/_pb\.ts$/, "")] : [];
  });
}

describe("contracts index", () => {
  it("lists every generated clearmesh file", () => {
    const generated = generatedProtoNames(path.resolve(import.meta.dirname, "../src/gen/clearmesh")).map((name) => `clearmesh/${name}`).sort();
    expect(clearmeshFiles.map((file) => file.name).sort()).toEqual(generated);
  });
});

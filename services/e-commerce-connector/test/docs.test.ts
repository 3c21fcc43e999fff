// docs/e-commerce-connector.md documents every reason the connector can answer.
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { commerceReasons } from "../src/index.js";

describe("docs/e-commerce-connector.md", () => {
  it("lists every error reason with its code", () => {
    const doc = fs.readFileSync(new URL("../../../docs/e-commerce-connector.md", import.meta.url), "utf8");
    for (const reason of Object.keys(commerceReasons)) expect(doc, reason).toMatch(new RegExp(`\\| \`${reason}\` \\| [A-Z_]+ \\|`));
  });
});

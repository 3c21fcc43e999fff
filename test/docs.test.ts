// Documents generated from code must be current.
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { configurationMarkdown } from "../scripts/config-docs.js";

describe("docs", () => {
  it("docs/configuration.md matches the services' settings schemas", () => {
    const current = fs.readFileSync(new URL("../docs/configuration.md", import.meta.url), "utf8");
    expect(current, "run: node --import tsx scripts/config-docs.ts").toBe(configurationMarkdown());
  });

  it("docs/protocol.md lists every error reason clearing can answer", async () => {
    const { clearingReasons } = await import("@clearmesh/clearing");
    const protocol = fs.readFileSync(new URL("../docs/protocol.md", import.meta.url), "utf8");
    for (const reason of [...Object.keys(clearingReasons), "SIGNATURE_MISSING", "UNKNOWN_KEY", "KEY_REVOKED", "STALE_TIMESTAMP", "REPLAYED_NONCE", "BAD_SIGNATURE", "NONCE_CAPACITY", "MALFORMED_REQUEST"]) {
      expect(protocol, reason).toContain(`| \`${reason}\` |`);
    }
  });
});

describe("docs/protocol.md §1", () => {
  it("names exactly the wallet's unsigned end-user methods", async () => {
    const { UNSIGNED_METHODS } = await import("@clearmesh/wallet");
    const protocol = fs.readFileSync(new URL("../docs/protocol.md", import.meta.url), "utf8");
    const section = protocol.slice(protocol.indexOf("- Unsigned methods are exactly"), protocol.indexOf("- Requests larger than"));
    const listed = [...section.matchAll(/`([A-Z][A-Za-z]+)`/g)].map((match) => match[1]).sort();
    expect(listed).toEqual([...UNSIGNED_METHODS].sort());
  });
});

// groupCommitting: durable transactions of concurrent callers share a commit on SQLite; one that
// fails fails alone and keeps nothing; non-durable work goes straight to the store.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { groupCommitting, openStore } from "../src/index.js";

describe("group commit", () => {
  it("commits concurrent transactions together on SQLite; one that fails fails alone, and fails before anything is kept", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wallet-group-commit-"));
    const plain = await openStore({ url: `sqlite:${path.join(dir, "wallet.db")}` });
    const commits = groupCommitting(plain);
    try {
      await plain.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)");
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => commits.store.transaction(async (tx) => {
        await tx.execute("INSERT INTO items (id, n) VALUES ($1, $2)", [BigInt(n), BigInt(n)]);
        if (n === 7) throw new Error("refused");
        return n;
      })));
      expect(outcomes.map((outcome) => (outcome.status === "fulfilled" ? outcome.value : (outcome.reason as Error).message)))
        .toEqual(Array.from({ length: 20 }, (_, n) => (n === 7 ? "refused" : n)));
      const rows = await plain.query<{ id: bigint }>("SELECT id FROM items ORDER BY id");
      expect(rows.map((row) => Number(row.id))).toEqual(Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 7));
      // Work that need not wait for the disk goes straight to the store.
      expect(await commits.store.transaction(async (tx) => (await tx.execute("DELETE FROM items WHERE id = 0")).changes, { durable: false })).toBe(1);
    } finally {
      await commits.close();
      await plain.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

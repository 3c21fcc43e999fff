// KnownIds never says "no" to an id it was given, and says "maybe" to few it was not; until the
// store's ids are read it says "maybe" to everything.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openStore } from "@clearmesh/store";
import { KnownIds } from "../src/engine/known-ids.js";

describe("KnownIds", () => {
  /** A filter whose (empty) store has been read. */
  const filled = async (expected: number) => {
    const known = new KnownIds(expected);
    await known.fill({ query: async () => [] } as never);
    return known;
  };

  it("never forgets an added id (property)", () => {
    fc.assert(fc.property(fc.array(fc.string({ minLength: 1, maxLength: 64 }), { maxLength: 300 }), (ids) => {
      const known = new KnownIds(0);
      for (const id of ids) known.add(id);
      return ids.every((id) => known.mightContain(id));
    }));
  });

  it("answers maybe for well under 1% of ids never added, at its capacity", async () => {
    const known = await filled(100_000);
    for (let index = 0; index < 200_000; index += 1) known.add(`run-1-t-${index}`);
    let falsePositives = 0;
    for (let index = 0; index < 100_000; index += 1) if (known.mightContain(`run-2-t-${index}`)) falsePositives += 1;
    expect(falsePositives).toBeLessThan(500);
    expect(known.size).toBe(200_000);
  });

  it("loads every stored transfer id and refused id, page by page", async () => {
    const store = await openStore({ sqlitePath: ":memory:" });
    await store.execute("CREATE TABLE transfers (transfer_id TEXT PRIMARY KEY)");
    await store.execute("CREATE TABLE transfer_failures (transfer_id TEXT PRIMARY KEY)");
    await store.transaction(async (tx) => {
      for (let index = 0; index < 25_000; index += 1) await tx.execute("INSERT INTO transfers VALUES ($1)", [`t-${index}`]);
      await tx.execute("INSERT INTO transfer_failures VALUES ($1)", ["refused-1"]);
    });
    const known = await KnownIds.load(store);
    expect(known.size).toBe(25_001);
    expect(known.filled).toBe(true);
    for (const id of ["t-0", "t-9999", "t-10000", "t-24999", "refused-1"]) expect(known.mightContain(id)).toBe(true);
    expect(["t-25000", "t-x", "refused-2"].filter((id) => known.mightContain(id))).toEqual([]);
    await store.close();
  });

  it("says maybe to every id until the store's ids are read, and keeps ids added meanwhile", async () => {
    let releasePage!: () => void;
    const pageGate = new Promise<void>((resolve) => { releasePage = resolve; });
    const db = {
      query: async (sql: string) => {
        if (sql.includes("COUNT")) return [{ n: 1n }];
        await pageGate;
        return sql.includes("FROM transfers ") ? [{ transfer_id: "stored-1" }] : [];
      },
    };
    const known = await KnownIds.sized(db as never);
    const filling = known.fill(db as never);
    expect(known.filled).toBe(false);
    expect(["stored-1", "never-1"].map((id) => known.mightContain(id))).toEqual([true, true]);
    known.add("decided-while-filling");
    releasePage();
    expect(await filling).toBe(true);
    expect(["stored-1", "decided-while-filling", "never-1"].map((id) => known.mightContain(id))).toEqual([true, true, false]);
  });

  it("stops a fill when abandoned and keeps saying maybe", async () => {
    let pages = 0;
    const page = () => {
      pages += 1;
      return Array.from({ length: 10_000 }, (_, index) => ({ transfer_id: `p${pages}-${String(index).padStart(5, "0")}` }));
    };
    const db = { query: async (sql: string) => (sql.includes("COUNT") ? [{ n: 0n }] : page()) };
    const known = await KnownIds.sized(db as never);
    const filling = known.fill(db as never);
    known.abandon();
    expect(await filling).toBe(false);
    expect(pages).toBeLessThanOrEqual(1);
    expect(known.mightContain("anything")).toBe(true);
  });
});

// KnownIds never says "no" to an id it was given, and says "maybe" to few it was not.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openStore } from "@clearmesh/store";
import { KnownIds } from "../src/engine/known-ids.js";

describe("KnownIds", () => {
  it("never forgets an added id (property)", () => {
    fc.assert(fc.property(fc.array(fc.string({ minLength: 1, maxLength: 64 }), { maxLength: 300 }), (ids) => {
      const known = new KnownIds(0);
      for (const id of ids) known.add(id);
      return ids.every((id) => known.mightContain(id));
    }));
  });

  it("answers maybe for well under 1% of ids never added, at its capacity", () => {
    const known = new KnownIds(100_000);
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
    for (const id of ["t-0", "t-9999", "t-10000", "t-24999", "refused-1"]) expect(known.mightContain(id)).toBe(true);
    await store.close();
  });
});

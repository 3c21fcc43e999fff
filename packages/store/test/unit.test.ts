import { executionAsyncId } from "node:async_hooks";
import { describe, expect, it } from "vitest";
import { multiRowInsert, openStore, StoreConfigError, StoreError } from "../src/index.js";
import { LruCache, translatePlaceholders } from "../src/placeholders.js";

describe("translatePlaceholders", () => {
  it("maps repeated and out-of-order $n to positional ?", () => {
    expect(translatePlaceholders("SELECT $2, $1, $2")).toEqual({ sql: "SELECT ?, ?, ?", order: [1, 0, 1], expected: 2 });
  });

  it("ignores $ in literals, quoted identifiers and comments", () => {
    const sql = `SELECT '$1 it''s $2', "col$1", $1 -- $3\n/* $4 */ FROM t WHERE a = $10`;
    expect(translatePlaceholders(sql)).toEqual({
      sql: `SELECT '$1 it''s $2', "col$1", ? -- $3\n/* $4 */ FROM t WHERE a = ?`,
      order: [0, 9],
      expected: 10,
    });
  });

  it("translates a multi-row statement with thousands of placeholders, and a $ without digits stays text", () => {
    const count = 9_000;
    const sql = `INSERT INTO t (a) VALUES ${Array.from({ length: count }, (_, index) => `($${index + 1})`).join(", ")} -- $x`;
    const translated = translatePlaceholders(sql);
    expect(translated.expected).toBe(count);
    expect(translated.order).toEqual(Array.from({ length: count }, (_, index) => index));
    expect(translated.sql.endsWith("(?) -- $x")).toBe(true);
    expect(translatePlaceholders("SELECT $ || $a, $1").sql).toBe("SELECT $ || $a, ?");
  });

  it("leaves statements without placeholders unchanged", () => {
    expect(translatePlaceholders("SELECT 1")).toEqual({ sql: "SELECT 1", order: [], expected: 0 });
  });
});

describe("LruCache", () => {
  it("evicts the least recently used entry", () => {
    const cache = new LruCache<string, number>(2);
    cache.set("a", 1);
    cache.set("b", 2);
    cache.get("a");
    cache.set("c", 3);
    expect([cache.get("a"), cache.get("b"), cache.get("c"), cache.size]).toEqual([1, undefined, 3, 2]);
  });
});

describe("openStore configuration", () => {
  it("rejects unknown schemes without echoing the URL", async () => {
    const error = await openStore({ url: "mysql://user:s3cret@db/x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreConfigError);
    expect((error as Error).message).toContain('"mysql:"');
    expect((error as Error).message).not.toContain("s3cret");
  });

  it("rejects missing or conflicting options", async () => {
    await expect(openStore({})).rejects.toBeInstanceOf(StoreConfigError);
    await expect(openStore({ url: "sqlite:/tmp/a.db", sqlitePath: "/tmp/a.db" })).rejects.toBeInstanceOf(StoreConfigError);
    await expect(openStore({ url: "sqlite:" })).rejects.toBeInstanceOf(StoreConfigError);
  });
});

describe("the transaction guard's context", () => {
  // executionAsyncId() inside a promise reaction is a fresh id only while async hooks track
  // promises; AsyncLocalStorage turns that tracking on, for every promise of the process.
  const reactionIds = async () => [await Promise.resolve().then(executionAsyncId), await Promise.resolve().then(executionAsyncId)];

  it("tracks promises only while a transaction callback runs", async () => {
    const store = await openStore({ sqlitePath: ":memory:" });
    try {
      const before = await reactionIds();
      let inside: number[] = [];
      await store.transaction(async () => {
        inside = await reactionIds();
      });
      const after = await reactionIds();
      expect(before).toEqual([0, 0]);
      expect(new Set(inside).size).toBe(2);
      expect(inside.every((id) => id > 0)).toBe(true);
      expect(after).toEqual([0, 0]);
    } finally {
      await store.close();
    }
  });

  it("stays on for a callback still running when another store's transaction ends", async () => {
    const [a, b] = await Promise.all([openStore({ sqlitePath: ":memory:" }), openStore({ sqlitePath: ":memory:" })]);
    try {
      let bDone!: () => void;
      const bEnded = new Promise<void>((resolve) => (bDone = resolve));
      const outer = a.transaction(async () => {
        await bEnded;
        return a.query("SELECT 1 AS one").then(() => "allowed", (error: unknown) => (error instanceof StoreError ? "refused" : String(error)));
      });
      await b.transaction(async (tx) => tx.query("SELECT 1 AS one"));
      bDone();
      expect(await outer).toBe("refused");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("multiRowInsert", () => {
  it("numbers placeholders row after row, puts the tail last, and builds each row count's text once", () => {
    const insert = multiRowInsert("t", ["a", "b"], "ON CONFLICT (a) DO NOTHING");
    expect(insert.sql(2)).toBe("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT (a) DO NOTHING");
    expect(insert.sql(2)).toBe(insert.sql(2));
    expect(multiRowInsert("t", ["a"]).sql(3)).toBe("INSERT INTO t (a) VALUES ($1), ($2), ($3)");
    const large = insert.sql(100);
    expect(large.match(/\$\d+/g)).toHaveLength(200);
    expect(large).toContain("($199, $200) ON CONFLICT");
    expect(insert.sql(100)).toBe(large);
  });
});

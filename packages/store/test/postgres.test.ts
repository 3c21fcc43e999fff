import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLeaderLock, createTestDatabase, openStore, type Store, type TestDatabase } from "../src/index.js";
import { storeContract } from "./contract.js";

describe("PostgreSQL store", () => {
  storeContract(async () => {
    const db = await createTestDatabase();
    return { open: () => openStore({ url: db.url, poolSize: 5 }), dispose: () => db.drop() };
  });
});

describe("PostgreSQL specifics", () => {
  let db: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    db = await createTestDatabase();
    store = await openStore({ url: db.url, poolSize: 4, statementTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it("parses int8 as bigint per pool without touching pg's global parsers", async () => {
    expect(await store.query("SELECT 9223372036854775807::int8 AS v")).toEqual([{ v: 9223372036854775807n }]);
    expect(await store.query("SELECT ARRAY[1, 2]::int8[] AS a")).toEqual([{ a: [1n, 2n] }]);
    const plain = new pg.Client({ connectionString: db.url });
    await plain.connect();
    try {
      expect((await plain.query("SELECT 5::int8 AS v")).rows).toEqual([{ v: "5" }]);
    } finally {
      await plain.end();
    }
  });

  it("keeps fractional numerics as exact strings", async () => {
    expect(await store.query("SELECT 1.50::numeric AS f, 12::numeric AS i")).toEqual([{ f: "1.50", i: 12n }]);
  });

  it("applies the statement timeout", async () => {
    await expect(store.query("SELECT pg_sleep(5)")).rejects.toThrow(/statement timeout/);
  });

  it("isolates a transaction: others see its writes only after COMMIT", async () => {
    await store.execute("CREATE TABLE iso (id BIGINT PRIMARY KEY)");
    const seen: unknown[] = [];
    await store.transaction(async (tx) => {
      await tx.execute("INSERT INTO iso VALUES (1)");
      seen.push(await store.query("SELECT id FROM iso").catch(() => "refused"));
    });
    // Using the store inside its own transaction is refused on both engines (SQLite would deadlock).
    expect(seen).toEqual(["refused"]);
    expect(await store.query("SELECT id FROM iso")).toEqual([{ id: 1n }]);
  });

  it("frees the leader lock when the holder's connection dies, and tells the holder", async () => {
    const lock = (await acquireLeaderLock(store, "clearing", { heartbeatMs: 50 }))!;
    const lost = new Promise<Error>((resolve) => lock.onLost(resolve));
    expect(await acquireLeaderLock(store, "clearing")).toBeNull();
    await store.query(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext($1)::oid AND granted",
      ["clearing"],
    );
    await expect(lost).resolves.toBeInstanceOf(Error);
    expect(lock.held).toBe(false);
    const standby = await acquireLeaderLock(store, "clearing");
    expect(standby).not.toBeNull();
    await standby!.release();
    await lock.release();
  });

  it("says which server refused a test database, without the password its URL holds", async () => {
    const refused = createTestDatabase("postgres://postgres:s3cret-pw@127.0.0.1:1/postgres");
    await expect(refused).rejects.toThrow(/^cannot create a test database on the PostgreSQL server at 127\.0\.0\.1:1 \(CLEARMESH_TEST_PG_ADMIN_URL.*\): .*ECONNREFUSED/);
    await expect(refused).rejects.not.toThrow(/s3cret-pw/);
  });

  it("fails fast at open when the server is unreachable", async () => {
    await expect(openStore({ url: "postgres://postgres@127.0.0.1:1/none" })).rejects.toThrow();
  });
});

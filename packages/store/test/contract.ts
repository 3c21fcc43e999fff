import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  acquireLeaderLock,
  BatchChainBrokenError,
  forwardingStore,
  GroupCommitter,
  StoreClosedError,
  StoreError,
  StoreOverloadedError,
  TransactionAbortedError,
  UniqueViolationError,
  waitForLeaderLock,
  type Migration,
  type Store,
  type Transaction,
} from "../src/index.js";

/** One engine under test: every open() is a new connection (or pool) to the same database. */
export interface StoreHarness {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

let tableCounter = 0;
const table = (base: string): string => `${base}_${Date.now() % 100000}_${++tableCounter}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const blobType = (store: Store): string => (store.dialect === "postgres" ? "BYTEA" : "BLOB");

/** The behaviour both engines must share; run from sqlite.test.ts and postgres.test.ts. */
export function storeContract(factory: () => Promise<StoreHarness>): void {
  let harness: StoreHarness;
  let store: Store;

  beforeAll(async () => {
    harness = await factory();
    store = await harness.open();
  });
  afterAll(async () => {
    await store?.close();
    await harness?.dispose();
  });

  describe("values", () => {
    it("round-trips bigint beyond 2^53 and int64 min/max", async () => {
      const t = table("money");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL, small INTEGER)`);
      const values = [0n, 1n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 123456789012345678n, INT64_MIN, INT64_MAX];
      for (const [i, v] of values.entries()) {
        await store.execute(`INSERT INTO ${t} (id, amount, small) VALUES ($1, $2, $3)`, [BigInt(i), v, 7]);
      }
      const rows = await store.query<{ id: bigint; amount: bigint; small: bigint }>(`SELECT id, amount, small FROM ${t} ORDER BY id`);
      expect(rows.map((r) => r.amount)).toEqual(values);
      expect(rows[0]).toEqual({ id: 0n, amount: 0n, small: 7n }); // every integer type is bigint
      const [agg] = await store.query(`SELECT COUNT(*) AS n, SUM(amount) AS total FROM ${t} WHERE amount > 0 AND amount < $1`, [INT64_MAX]);
      expect(agg).toEqual({ n: 3n, total: 1n + 2n ** 53n + 1n + 123456789012345678n });
    });

    it("round-trips any int64 through a parameter", async () => {
      await fc.assert(
        fc.asyncProperty(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), async (v) => {
          const [row] = await store.query<{ v: bigint }>("SELECT CAST($1 AS BIGINT) AS v", [v]);
          expect(row!.v).toBe(v);
        }),
        { numRuns: 100 },
      );
    });

    it("round-trips bytes: Uint8Array or Buffer in, Buffer out", async () => {
      const t = table("bytes");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, data ${blobType(store)})`);
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const inputs = [all, new Uint8Array(0), Buffer.from("clearmesh"), all.subarray(10, 20)];
      for (const [i, data] of inputs.entries()) await store.execute(`INSERT INTO ${t} (id, data) VALUES ($1, $2)`, [BigInt(i), data]);
      const rows = await store.query<{ data: Buffer }>(`SELECT data FROM ${t} ORDER BY id`);
      rows.forEach((row, i) => {
        expect(Buffer.isBuffer(row.data)).toBe(true);
        expect(Buffer.compare(row.data, Buffer.from(inputs[i]!))).toBe(0);
      });
    });

    it("stores booleans portably (truthy on both engines)", async () => {
      const t = table("flags");
      await store.execute(`CREATE TABLE ${t} (id BIGINT, flag ${store.dialect === "postgres" ? "BOOLEAN" : "INTEGER"})`);
      await store.execute(`INSERT INTO ${t} VALUES (1, $1), (2, $2)`, [true, false]);
      const rows = await store.query<{ id: bigint; flag: unknown }>(`SELECT id, flag FROM ${t} WHERE flag = $1`, [true]);
      expect(rows.map((r) => r.id)).toEqual([1n]);
      expect(Boolean(rows[0]!.flag)).toBe(true);
    });
  });

  describe("placeholders", () => {
    it("accepts repeated and out-of-order placeholders", async () => {
      const rows = await store.query("SELECT CAST($2 AS TEXT) AS a, CAST($1 AS TEXT) AS b, CAST($2 AS TEXT) AS c", ["x", "y"]);
      expect(rows).toEqual([{ a: "y", b: "x", c: "y" }]);
    });

    it("leaves $ inside string literals alone", async () => {
      const rows = await store.query("SELECT '$1 costs $2' AS lit, 'it''s $1' AS q, CAST($1 AS TEXT) AS p", ["v"]);
      expect(rows).toEqual([{ lit: "$1 costs $2", q: "it's $1", p: "v" }]);
    });

    it("rejects a wrong number of parameters on both engines", async () => {
      await expect(store.query("SELECT CAST($1 AS TEXT) AS a")).rejects.toThrow();
      await expect(store.query("SELECT CAST($1 AS TEXT) AS a", ["a", "b"])).rejects.toThrow();
    });

    it("returns rows from INSERT … RETURNING and counts changes", async () => {
      const t = table("ret");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, v TEXT)`);
      const inserted = await store.query(`INSERT INTO ${t} (id, v) VALUES ($1, $2), ($3, $2) RETURNING id`, [1n, "a", 2n]);
      expect(inserted).toEqual([{ id: 1n }, { id: 2n }]);
      expect(await store.execute(`UPDATE ${t} SET v = $1`, ["b"])).toEqual({ changes: 2 });
      expect(await store.execute(`DELETE FROM ${t} WHERE id = $1`, [9n])).toEqual({ changes: 0 });
      expect(await store.query(`UPDATE ${t} SET v = 'c' WHERE id = 1`)).toEqual([]);
    });
  });

  describe("transactions", () => {
    it("commits when fn resolves", async () => {
      const t = table("commit");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      const result = await store.transaction(async (tx) => {
        expect(tx.dialect).toBe(store.dialect);
        await tx.execute(`INSERT INTO ${t} VALUES (1), (2)`);
        return (await tx.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n;
      });
      expect(result).toBe(2n);
      expect(await store.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1n }, { id: 2n }]);
    });

    it("commits a non-durable transaction like any other, and later commits are durable again", async () => {
      const t = table("relaxed");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      const durability = async (queryable: Pick<Store, "query">) => String(Object.values((await queryable.query(
        store.dialect === "postgres" ? "SHOW synchronous_commit" : "PRAGMA synchronous"))[0]!)[0]);
      const durableSetting = await durability(store);
      const inside = await store.transaction(async (tx) => {
        await tx.execute(`INSERT INTO ${t} VALUES (1)`);
        return store.dialect === "postgres" ? durability(tx) : "";
      }, { durable: false });
      if (store.dialect === "postgres") expect(inside).toBe("off");
      expect(await store.query(`SELECT id FROM ${t}`)).toEqual([{ id: 1n }]);
      // Only that commit was relaxed: the connection(s) are back to the durable setting.
      expect(durableSetting).toBe(store.dialect === "postgres" ? "on" : "2");
      for (let index = 0; index < 3; index += 1) expect(await durability(store)).toBe(durableSetting);
      await expect(store.transaction(async (tx) => {
        await tx.execute(`INSERT INTO ${t} VALUES (2)`);
        throw new Error("boom");
      }, { durable: false })).rejects.toThrow("boom");
      expect(await durability(store)).toBe(durableSetting);
      expect(await store.query(`SELECT id FROM ${t}`)).toEqual([{ id: 1n }]);
    });

    it("rolls back and rethrows when fn rejects", async () => {
      const t = table("rollback");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      const boom = new Error("boom");
      await expect(
        store.transaction(async (tx) => {
          await tx.execute(`INSERT INTO ${t} VALUES (1)`);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await store.query(`SELECT id FROM ${t}`)).toEqual([]);
    });

    it("dooms a transaction after a failed statement even if fn swallows the error", async () => {
      const t = table("doomed");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      await store.execute(`INSERT INTO ${t} VALUES (1)`);
      let later: unknown;
      const outcome = store.transaction(async (tx) => {
        await tx.execute(`INSERT INTO ${t} VALUES (2)`);
        await tx.execute(`INSERT INTO ${t} VALUES (1)`).catch(() => {});
        later = await tx.query("SELECT 1 AS one").catch((e: unknown) => e);
        return "resolved anyway";
      });
      await expect(outcome).rejects.toBeInstanceOf(TransactionAbortedError);
      expect(later).toBeInstanceOf(TransactionAbortedError);
      expect(await store.query(`SELECT id FROM ${t}`)).toEqual([{ id: 1n }]);
    });

    it("refuses a tx used after its callback, and the store used inside its own transaction", async () => {
      let leaked: Transaction | undefined;
      await store.transaction(async (tx) => {
        leaked = tx;
        await expect(store.query("SELECT 1 AS one")).rejects.toBeInstanceOf(StoreError);
      });
      await expect(leaked!.query("SELECT 1 AS one")).rejects.toThrow(/already finished/);
    });

    it("refuses the store inside every transaction: one after another, side by side, after a callback that threw at once", async () => {
      // The guard's context is switched on only while a callback runs (tx-guard.ts): each new
      // callback must find it on again, and one ending must not switch it off under another.
      const misuse = async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return store.query("SELECT 1 AS one").then(() => "allowed", (error: unknown) => (error instanceof StoreError ? "refused" : String(error)));
      };
      expect(await store.transaction(misuse)).toBe("refused");
      expect(await store.transaction(misuse)).toBe("refused");
      await expect(store.transaction(() => {
        throw new Error("thrown before any await");
      })).rejects.toThrow("thrown before any await");
      expect(await store.transaction(misuse)).toBe("refused");
      let releaseFirst!: () => void;
      const firstMayEnd = new Promise<void>((resolve) => (releaseFirst = resolve));
      const first = store.transaction(async () => {
        await firstMayEnd;
        return misuse();
      });
      // On SQLite the second waits for the first; on PostgreSQL they run side by side.
      const second = store.transaction(async () => {
        const outcome = await misuse();
        return outcome;
      });
      setTimeout(releaseFirst, 20);
      expect(await Promise.all([first, second])).toEqual(["refused", "refused"]);
      // Outside any transaction the store is used as usual.
      expect(await store.query("SELECT 1 AS one")).toHaveLength(1);
    });

    it("keeps concurrent increments exact (no lost updates)", async () => {
      const t = table("counter");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)`);
      await store.execute(`INSERT INTO ${t} VALUES (1, 0)`);
      await Promise.all(
        Array.from({ length: 20 }, () =>
          store.transaction(async (tx) => {
            await tx.execute(`UPDATE ${t} SET n = n + 1 WHERE id = 1`);
            await sleep(2);
          }),
        ),
      );
      expect(await store.query(`SELECT n FROM ${t}`)).toEqual([{ n: 20n }]);
    });

    it("hides uncommitted writes from queries outside the transaction", async () => {
      const t = table("isolation");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let inserted!: () => void;
      const insertedSignal = new Promise<void>((resolve) => (inserted = resolve));
      const tx = store.transaction(async (tx) => {
        await tx.execute(`INSERT INTO ${t} VALUES (1)`);
        inserted();
        await gate;
        throw new Error("roll back");
      });
      await insertedSignal;
      // SQLite: waits for the transaction to end; PostgreSQL: another connection, reads committed data.
      const outside = store.query(`SELECT id FROM ${t}`);
      setTimeout(release, 20);
      await expect(tx).rejects.toThrow("roll back");
      expect(await outside).toEqual([]);
    });
  });

  describe("writeBatch", () => {
    it("writes every statement in order, in one transaction, visible once it resolves", async () => {
      const t = table("batch");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, note TEXT NOT NULL, data ${blobType(store)})`);
      const rows = Array.from({ length: 300 }, (_, index) => [BigInt(index), `row ${index}`, Buffer.from([index % 256])]);
      await store.writeBatch([
        { sql: `INSERT INTO ${t} (id, note, data) VALUES ${rows.slice(0, 200).map((_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`).join(", ")}`, params: rows.slice(0, 200).flat() },
        { sql: `INSERT INTO ${t} (id, note, data) VALUES ${rows.slice(200).map((_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`).join(", ")}`, params: rows.slice(200).flat() },
        { sql: `UPDATE ${t} SET note = $2 WHERE id = $1`, params: [7n, "updated"] },
      ]);
      expect((await store.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n).toBe(300n);
      expect(await store.query(`SELECT id, note, data FROM ${t} WHERE id IN (7, 299) ORDER BY id`)).toEqual([
        { id: 7n, note: "updated", data: Buffer.from([7]) },
        { id: 299n, note: "row 299", data: Buffer.from([299 % 256]) },
      ]);
    });

    it("keeps nothing of a batch whose statement fails, and names the violation", async () => {
      const t = table("batchfail");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      await store.execute(`INSERT INTO ${t} VALUES (1)`);
      const failed = store.writeBatch([
        { sql: `INSERT INTO ${t} VALUES ($1)`, params: [2n] },
        { sql: `INSERT INTO ${t} VALUES ($1)`, params: [1n] },
      ]);
      await expect(failed).rejects.toBeInstanceOf(UniqueViolationError);
      expect(await store.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1n }]);
      await expect(store.writeBatch([{ sql: `INSERT INTO ${t} VALUES ($1)`, params: [] }])).rejects.toThrow(/parameter/);
      await store.writeBatch([{ sql: `INSERT INTO ${t} VALUES ($1)`, params: [3n] }]);
      expect(await store.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1n }, { id: 3n }]);
    });

    it("keeps working across hundreds of distinct statements and after a batch that failed mid-way", async () => {
      const t = table("batchmany");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, k INTEGER NOT NULL)`);
      // 300 distinct statement texts (more than the writer thread keeps prepared), each used twice.
      for (let round = 0; round < 2; round += 1) {
        for (let index = 0; index < 300; index += 1) {
          await store.writeBatch([{ sql: `INSERT INTO ${t} (id, k) VALUES ($1, ${index})`, params: [BigInt(round * 1_000 + index)] }]);
        }
      }
      expect((await store.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n).toBe(600n);
      // A batch that fails before its second (new) statement is ever prepared, then that statement again.
      const fresh = `INSERT INTO ${t} (id, k) VALUES ($1, -1)`;
      await expect(store.writeBatch([{ sql: `INSERT INTO ${t} (id, k) VALUES ($1, 0)`, params: [0n] }, { sql: fresh, params: [5_000n] }])).rejects.toBeInstanceOf(UniqueViolationError);
      await store.writeBatch([{ sql: fresh, params: [5_001n] }]);
      expect(await store.query(`SELECT id FROM ${t} WHERE k = -1`)).toEqual([{ id: 5_001n }]);
    });

    it("runs beside the store's own transactions: every write lands once", async () => {
      const t = table("batchmix");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, source TEXT NOT NULL)`);
      const work: Promise<unknown>[] = [];
      for (let index = 0; index < 40; index += 1) {
        work.push(store.writeBatch([{ sql: `INSERT INTO ${t} VALUES ($1, $2)`, params: [BigInt(index), "batch"] }]));
        work.push(store.transaction((tx) => tx.execute(`INSERT INTO ${t} VALUES ($1, $2)`, [BigInt(1_000 + index), "tx"])));
        work.push(store.execute(`INSERT INTO ${t} VALUES ($1, $2)`, [BigInt(2_000 + index), "execute"]));
      }
      await Promise.all(work);
      expect(await store.query(`SELECT source, COUNT(*) AS n FROM ${t} GROUP BY source ORDER BY source`)).toEqual([
        { source: "batch", n: 40n }, { source: "execute", n: 40n }, { source: "tx", n: 40n },
      ]);
    });
  });

  describe("batchChain", () => {
    it("writes a chain's batches in the order handed over, each once, without the writer awaiting each", async () => {
      const t = table("chain");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)`);
      await store.execute(`INSERT INTO ${t} VALUES (0, 0)`);
      const chain = store.batchChain();
      // Each batch folds its number into v: any other order (or a batch twice) gives another v.
      const written = Array.from({ length: 60 }, (_, k) => chain.write([
        { sql: `UPDATE ${t} SET v = (v * 31 + $1) % 1000000007 WHERE id = 0`, params: [BigInt(k + 1)] },
        { sql: `INSERT INTO ${t} (id, v) VALUES ($1, $2)`, params: [BigInt(k + 1), BigInt(k + 1)] },
      ]));
      await Promise.all(written);
      let expected = 0n;
      for (let k = 1n; k <= 60n; k += 1n) expected = (expected * 31n + k) % 1_000_000_007n;
      expect(await store.query(`SELECT v FROM ${t} WHERE id = 0`)).toEqual([{ v: expected }]);
      expect((await store.query(`SELECT COUNT(*) AS n FROM ${t}`))[0]!.n).toBe(61n);
    });

    it("refuses unwritten every batch handed over after one that failed, for good; a new chain starts clean", async () => {
      const t = table("chainfail");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      const chain = store.batchChain();
      const insert = (id: bigint) => ({ sql: `INSERT INTO ${t} VALUES ($1)`, params: [id] });
      // Handed over together: the third is queued behind the second before the second fails.
      const first = chain.write([insert(1n)]);
      const second = chain.write([insert(2n), insert(1n)]);
      const third = chain.write([insert(3n)]);
      await expect(first).resolves.toBeUndefined();
      await expect(second).rejects.toBeInstanceOf(UniqueViolationError);
      const refused = await third.catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(BatchChainBrokenError);
      expect(refused).toBeInstanceOf(StoreError);
      await expect(chain.write([insert(4n)])).rejects.toBeInstanceOf(BatchChainBrokenError);
      expect(await store.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1n }]);

      const fresh = store.batchChain();
      await fresh.write([insert(5n)]);
      await store.writeBatch([insert(6n)]);
      expect(await store.query(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1n }, { id: 5n }, { id: 6n }]);
    });

    it("breaks the chain on a batch refused before it ran (wrong parameter count)", async () => {
      const t = table("chainparams");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      const chain = store.batchChain();
      const bad = chain.write([{ sql: `INSERT INTO ${t} VALUES ($1)`, params: [] }]);
      const after = chain.write([{ sql: `INSERT INTO ${t} VALUES ($1)`, params: [7n] }]);
      await expect(bad).rejects.toThrow();
      await expect(after).rejects.toBeInstanceOf(BatchChainBrokenError);
      expect(await store.query(`SELECT id FROM ${t}`)).toEqual([]);
    });
  });

  describe("unique violations", () => {
    it("maps primary key and unique index violations to UniqueViolationError", async () => {
      const t = table("uniq");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, a TEXT, b TEXT)`);
      await store.execute(`CREATE UNIQUE INDEX ${t}_ab ON ${t} (a, b)`);
      await store.execute(`INSERT INTO ${t} VALUES (1, 'x', 'y')`);
      const pk = await store.execute(`INSERT INTO ${t} VALUES (1, 'p', 'q')`).catch((e: unknown) => e);
      expect(pk).toBeInstanceOf(UniqueViolationError);
      expect((pk as UniqueViolationError).table).toBe(t);
      const composite = await store
        .transaction((tx) => tx.execute(`INSERT INTO ${t} VALUES ($1, $2, $3)`, [2n, "x", "y"]))
        .catch((e: unknown) => e);
      expect(composite).toBeInstanceOf(UniqueViolationError);
      const err = composite as UniqueViolationError;
      if (store.dialect === "postgres") expect(err.constraint).toBe(`${t}_ab`);
      else expect(err.columns).toEqual(["a", "b"]);
      expect(err.cause).toBeDefined();
    });
  });

  describe("migrations", () => {
    const prefix = `m${Date.now() % 100000}`;
    const migrations: Migration[] = [
      {
        id: `${prefix}-001`,
        sql: `CREATE TABLE ${prefix}_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL);
              INSERT INTO ${prefix}_accounts VALUES (1, 100);`,
      },
      {
        id: `${prefix}-002`,
        sql: {
          sqlite: `ALTER TABLE ${prefix}_accounts ADD COLUMN note TEXT DEFAULT 'sqlite'`,
          postgres: `ALTER TABLE ${prefix}_accounts ADD COLUMN note TEXT DEFAULT 'postgres'`,
        },
      },
    ];

    it("applies each migration once, even when run again and concurrently", async () => {
      const other = await harness.open();
      try {
        await Promise.all([store.migrate(migrations), other.migrate(migrations), store.migrate(migrations)]);
        await store.migrate(migrations);
      } finally {
        await other.close();
      }
      expect(await store.query(`SELECT id, balance, note FROM ${prefix}_accounts`)).toEqual([
        { id: 1n, balance: 100n, note: store.dialect },
      ]);
      const applied = await store.query<{ id: string; applied_at: bigint }>(
        "SELECT id, applied_at FROM schema_migrations WHERE id LIKE $1 ORDER BY id",
        [`${prefix}-%`],
      );
      expect(applied.map((r) => r.id)).toEqual(migrations.map((m) => m.id));
      expect(typeof applied[0]!.applied_at).toBe("bigint");
    });

    it("rolls back a failing migration entirely and keeps earlier ones", async () => {
      const bad: Migration = { id: `${prefix}-003`, sql: `CREATE TABLE ${prefix}_half (id BIGINT); SELECT * FROM ${prefix}_missing;` };
      await expect(store.migrate([...migrations, bad])).rejects.toThrow();
      const rows = await store.query("SELECT id FROM schema_migrations WHERE id = $1", [bad.id]);
      expect(rows).toEqual([]);
      await expect(store.query(`SELECT * FROM ${prefix}_half`)).rejects.toThrow();
      const fixed: Migration = { id: bad.id, sql: `CREATE TABLE ${prefix}_half (id BIGINT)` };
      await store.migrate([...migrations, fixed]);
      expect(await store.query(`SELECT * FROM ${prefix}_half`)).toEqual([]);
    });

    it("rejects duplicate migration ids", async () => {
      await expect(store.migrate([migrations[0]!, migrations[0]!])).rejects.toThrow(/twice/);
    });
  });

  describe("GroupCommitter", () => {
    it("lands 1,000 concurrent submits in far fewer transactions, each resolved after its commit", async () => {
      const t = table("group");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY)`);
      const counted = countingStore(store);
      const observer = await harness.open();
      const committer = new GroupCommitter(counted.store, { maxBatchSize: 100 });
      const checks: Promise<void>[] = [];
      try {
        const results = await Promise.all(
          Array.from({ length: 1000 }, (_, i) => {
            let txId = 0;
            const done = committer.submit(async (tx) => {
              txId = counted.idOf(tx);
              await tx.execute(`INSERT INTO ${t} (id) VALUES ($1)`, [BigInt(i)]);
              return i;
            });
            return done.then((value) => {
              expect(counted.committed.has(txId)).toBe(true);
              // Another connection sees the row the moment the promise resolves.
              if (i % 100 === 0) checks.push(observer.query(`SELECT id FROM ${t} WHERE id = $1`, [BigInt(i)]).then((r) => expect(r).toHaveLength(1)));
              return value;
            });
          }),
        );
        await Promise.all(checks);
        expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      } finally {
        await committer.close();
        await observer.close();
      }
      expect(counted.started()).toBeLessThanOrEqual(20);
      expect(committer.stats.batches).toBe(counted.started());
      expect(await store.query(`SELECT COUNT(*) AS n FROM ${t}`)).toEqual([{ n: 1000n }]);
    });

    it("runs items in submission order", async () => {
      const committer = new GroupCommitter(store, { maxBatchSize: 7 });
      const order: number[] = [];
      await Promise.all(Array.from({ length: 50 }, (_, i) => committer.submit(async () => void order.push(i))));
      await committer.close();
      expect(order).toEqual(Array.from({ length: 50 }, (_, i) => i));
    });

    it("fails only the bad item: the batch is retried item by item", async () => {
      const t = table("groupfail");
      await store.execute(`CREATE TABLE ${t} (id BIGINT PRIMARY KEY, who BIGINT)`);
      const counted = countingStore(store);
      const committer = new GroupCommitter(counted.store, { maxBatchSize: 10 });
      const insert = (id: bigint, who: bigint) => (tx: Transaction) => tx.execute(`INSERT INTO ${t} VALUES ($1, $2)`, [id, who]);
      const bad = new Error("bad item");
      const outcomes = await Promise.allSettled([
        ...[0n, 1n, 2n].map((i) => committer.submit(insert(i, i))),
        committer.submit(async (tx) => {
          await insert(3n, 3n)(tx);
          throw bad;
        }),
        committer.submit(insert(1n, 4n)), // duplicate of item 1: fails alone as a unique violation
        ...[5n, 6n].map((i) => committer.submit(insert(i, i))),
      ]);
      await committer.close();
      expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "rejected", "fulfilled", "fulfilled"]);
      expect((outcomes[3] as PromiseRejectedResult).reason).toBe(bad);
      expect((outcomes[4] as PromiseRejectedResult).reason).toBeInstanceOf(UniqueViolationError);
      expect(await store.query(`SELECT id, who FROM ${t} ORDER BY id`)).toEqual(
        [0n, 1n, 2n, 5n, 6n].map((i) => ({ id: i, who: i })),
      );
      expect(committer.stats).toEqual({ batches: 1, singles: 7, retried: 7 });
      expect(counted.started()).toBe(8);
    });

    it("rejects submits beyond maxQueued with StoreOverloadedError", async () => {
      const committer = new GroupCommitter(store, { maxBatchSize: 1, maxQueued: 5 });
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => committer.submit(async () => "ok")));
      await committer.close();
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(5);
      const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
      expect(rejected).toHaveLength(3);
      for (const r of rejected) {
        expect(r.reason).toBeInstanceOf(StoreOverloadedError);
        expect((r.reason as StoreOverloadedError).limit).toBe(5);
      }
    });

    it("flush() skips the batching delay and close() drains then refuses", async () => {
      const committer = new GroupCommitter(store, { maxBatchSize: 100, maxDelayMs: 60_000 });
      const started = Date.now();
      const pending = [1, 2, 3].map((i) => committer.submit(async (tx) => (await tx.query("SELECT CAST($1 AS BIGINT) AS v", [i]))[0]!.v));
      await committer.flush();
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await Promise.all(pending)).toEqual([1n, 2n, 3n]);
      const late = committer.submit(async () => "late");
      await committer.close();
      await expect(late).resolves.toBe("late");
      await expect(committer.submit(async () => "after")).rejects.toBeInstanceOf(StoreClosedError);
    });
  });

  describe("leader lock", () => {
    it("gives the lock to one holder at a time, across connections", async () => {
      const name = table("leader");
      const other = await harness.open();
      try {
        const first = await acquireLeaderLock(store, name);
        expect(first?.held).toBe(true);
        expect(await acquireLeaderLock(store, name)).toBeNull();
        expect(await acquireLeaderLock(other, name)).toBeNull();
        const unrelated = await acquireLeaderLock(other, `${name}-other`);
        expect(unrelated).not.toBeNull();
        await unrelated!.release();
        await first!.release();
        expect(first!.held).toBe(false);
        const second = await acquireLeaderLock(other, name);
        expect(second).not.toBeNull();
        await second!.release();
      } finally {
        await other.close();
      }
    });

    it("waitForLeaderLock waits for release, and stops when aborted", async () => {
      const name = table("standby");
      const holder = (await acquireLeaderLock(store, name))!;
      const waiting = waitForLeaderLock(store, name, { pollMs: 20 });
      await sleep(100);
      await holder.release();
      const standby = await waiting;
      expect(standby.held).toBe(true);
      const controller = new AbortController();
      const aborted = waitForLeaderLock(store, name, { pollMs: 20, signal: controller.signal });
      setTimeout(() => controller.abort(new Error("shutting down")), 60);
      await expect(aborted).rejects.toThrow("shutting down");
      await standby.release();
    });
  });
}

/** Wraps a store to count transactions and know, for any tx, whether its COMMIT has returned. */
function countingStore(inner: Store): { store: Store; started: () => number; committed: Set<number>; idOf: (tx: Transaction) => number } {
  let started = 0;
  const ids = new WeakMap<Transaction, number>();
  const committed = new Set<number>();
  const store = forwardingStore(inner, {
    async transaction(fn) {
      const id = ++started;
      const result = await inner.transaction((tx) => {
        ids.set(tx, id);
        return fn(tx);
      });
      committed.add(id);
      return result;
    },
  });
  return { store, started: () => started, committed, idOf: (tx) => ids.get(tx) ?? 0 };
}

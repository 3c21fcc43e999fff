import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireLeaderLock, openStore, type Store } from "../src/index.js";
import { leaderLockPath } from "../src/leader-file.js";
import { storeContract } from "./contract.js";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "clearmesh-store-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("SQLite store", () => {
  storeContract(async () => {
    // A nested path checks that openStore creates the parent folders.
    const path = join(tempDir(), "nested", "dir", "service.db");
    let opened = 0;
    return {
      open: () => (opened++ % 2 === 0 ? openStore({ url: `sqlite:${path}` }) : openStore({ sqlitePath: path })),
      dispose: async () => {},
    };
  });
});

describe("SQLite specifics", () => {
  let path: string;
  let store: Store;
  beforeAll(async () => {
    path = join(tempDir(), "specific.db");
    store = await openStore({ sqlitePath: path });
  });
  afterAll(() => store.close());

  it("uses WAL, synchronous=FULL and foreign keys", async () => {
    expect(await store.query("PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }]);
    expect(await store.query("PRAGMA synchronous")).toEqual([{ synchronous: 2n }]);
    expect(await store.query("PRAGMA foreign_keys")).toEqual([{ foreign_keys: 1n }]);
  });

  it("waits for another connection's write lock without blocking the event loop, up to busyTimeoutMs", async () => {
    await store.execute("CREATE TABLE busy (id BIGINT PRIMARY KEY)");
    const patient = await openStore({ sqlitePath: path, busyTimeoutMs: 5000 });
    const impatient = await openStore({ sqlitePath: path, busyTimeoutMs: 50 });
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const holder = store.transaction(async (tx) => {
        await tx.execute("INSERT INTO busy VALUES (1)");
        await new Promise((resolve) => setTimeout(resolve, 300));
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
      await expect(impatient.execute("INSERT INTO busy VALUES (2)")).rejects.toMatchObject({ code: expect.stringMatching(/^SQLITE_BUSY/) });
      await patient.transaction((tx) => tx.execute("INSERT INTO busy VALUES (3)"));
      await holder;
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(20); // the event loop kept running while both waited
      expect(await store.query("SELECT id FROM busy ORDER BY id")).toEqual([{ id: 1n }, { id: 3n }]);
    } finally {
      await patient.close();
      await impatient.close();
    }
  });

  it("never interleaves concurrent transactions on its one connection", async () => {
    const log: string[] = [];
    const run = (name: string) =>
      store.transaction(async (tx) => {
        log.push(`${name}:begin`);
        await new Promise((resolve) => setTimeout(resolve, 10));
        await tx.query("SELECT 1 AS one");
        log.push(`${name}:end`);
      });
    await Promise.all([run("a"), run("b"), run("c")]);
    expect(log).toEqual(["a:begin", "a:end", "b:begin", "b:end", "c:begin", "c:end"]);
  });

  it("makes outside queries wait for the open transaction", async () => {
    const log: string[] = [];
    const tx = store.transaction(async (tx) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await tx.query("SELECT 1 AS one");
      log.push("tx done");
    });
    const outside = store.query("SELECT 1 AS one").then(() => log.push("outside"));
    await Promise.all([tx, outside]);
    expect(log).toEqual(["tx done", "outside"]);
  });

  it("takes over a lock file whose pid is dead", async () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    writeLockFile(path, "dead", dead);
    const lock = await acquireLeaderLock(store, "dead");
    expect(lock).not.toBeNull();
    await lock!.release();
    expect(existsSync(leaderLockPath(path, "dead"))).toBe(false);
  });

  it("respects a lock file whose pid is alive", async () => {
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      writeLockFile(path, "alive", child.pid!);
      expect(await acquireLeaderLock(store, "alive")).toBeNull();
    } finally {
      child.kill();
    }
  });

  it("takes over a file naming our own pid but not a lock we hold (restarted container)", async () => {
    writeLockFile(path, "restarted", process.pid);
    const lock = await acquireLeaderLock(store, "restarted");
    expect(lock).not.toBeNull();
    expect(await acquireLeaderLock(store, "restarted")).toBeNull();
    await lock!.release();
  });

  it("takes over a live pid's file once its heartbeat is stale (pid reused)", async () => {
    writeLockFile(path, "stale", process.ppid, new Date(Date.now() - 120_000));
    expect(await acquireLeaderLock(store, "stale", { staleMs: 180_000 })).toBeNull();
    const lock = await acquireLeaderLock(store, "stale", { staleMs: 60_000 });
    expect(lock).not.toBeNull();
    await lock!.release();
  });

  it("reports loss when another holder replaces the lock file", async () => {
    const lock = (await acquireLeaderLock(store, "replaced", { heartbeatMs: 20 }))!;
    const lost = new Promise<Error>((resolve) => lock.onLost(resolve));
    writeLockFile(path, "replaced", process.ppid);
    await expect(lost).resolves.toBeInstanceOf(Error);
    expect(lock.held).toBe(false);
    await lock.release(); // must not remove the other holder's file
    expect(existsSync(leaderLockPath(path, "replaced"))).toBe(true);
  });

  it("reports loss when the lock file is removed under the holder", async () => {
    const lock = (await acquireLeaderLock(store, "removed", { heartbeatMs: 20 }))!;
    const lost = new Promise<Error>((resolve) => lock.onLost(resolve));
    rmSync(leaderLockPath(path, "removed"));
    await expect(lost).resolves.toBeInstanceOf(Error);
    expect(lock.held).toBe(false);
  });

  it("rejects a leader lock on an in-memory database", async () => {
    const memory = await openStore({ sqlitePath: ":memory:" });
    await expect(acquireLeaderLock(memory, "x")).rejects.toThrow(/file-backed/);
    await memory.close();
  });
});

function writeLockFile(dbPath: string, name: string, pid: number, heartbeat?: Date): void {
  const file = leaderLockPath(dbPath, name);
  writeFileSync(file, JSON.stringify({ pid, host: hostname(), token: "someone-else", acquiredAt: Date.now() }));
  if (heartbeat) utimesSync(file, heartbeat, heartbeat);
}

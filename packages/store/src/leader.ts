import { StoreError } from "./errors.js";
import { acquireFileLock } from "./leader-file.js";
import { acquirePgLock } from "./leader-pg.js";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./types.js";
import type { LeaderLock, LeaderLockOptions, WaitForLeaderLockOptions } from "./lock-common.js";

/** Tries once, without blocking: the lock, or null if another holder has it. */
export function acquireLeaderLock(store: Store, name: string, options: LeaderLockOptions = {}): Promise<LeaderLock | null> {
  const settings = { heartbeatMs: options.heartbeatMs ?? 2000, staleMs: options.staleMs ?? 30_000 };
  if (store instanceof PostgresStore) return acquirePgLock(store, name, settings);
  if (store instanceof SqliteStore) return acquireFileLock(store.path, name, settings);
  return Promise.reject(new StoreError("acquireLeaderLock needs a store returned by openStore"));
}

/** Polls until the lock is acquired (hot standby), or rejects with the signal's reason when aborted. */
export async function waitForLeaderLock(store: Store, name: string, options: WaitForLeaderLockOptions = {}): Promise<LeaderLock> {
  const { pollMs = 1000, signal } = options;
  for (;;) {
    signal?.throwIfAborted();
    const lock = await acquireLeaderLock(store, name, options);
    if (lock) {
      if (!signal?.aborted) return lock;
      await lock.release();
      signal.throwIfAborted();
    }
    await sleep(pollMs, signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

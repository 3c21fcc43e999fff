import { AsyncLocalStorage } from "node:async_hooks";
import { StoreClosedError, StoreError, TransactionAbortedError } from "./errors.js";

/** The transaction whose callback is running in the current async context, if any. */
const current = new AsyncLocalStorage<TxGuard>();

/**
 * Transaction callbacks running now, across every store of the process. On Node 20 an enabled
 * AsyncLocalStorage runs hooks on every promise of the process (about 7% of clearing's
 * event-loop CPU under load), so `current` is enabled only while a callback runs: `run` enables
 * it, and the last callback to end disables it again. A continuation that outlives its callback
 * then reads no guard, and its guard would be inactive anyway.
 */
let callbacksRunning = 0;

function callbackEnded(): void {
  callbacksRunning -= 1;
  if (callbacksRunning === 0) current.disable();
}

/**
 * Book-keeping shared by both engines' transaction objects: runs the statements one after
 * another (pg forbids overlapping queries on one client), dooms the transaction after a failed
 * statement (PostgreSQL aborts it anyway; SQLite is made to match), and refuses use after the end.
 */
export class TxGuard {
  active = true;
  failure: { error: unknown } | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(readonly owner: object) {}

  run<T>(op: () => T | Promise<T>): Promise<T> {
    const next = this.#tail.then(() => this.#exec(op));
    this.#tail = next.then(noop, noop);
    return next;
  }

  /** Runs the transaction callback with this guard visible to `assertUsable`. */
  runCallback<T>(fn: () => Promise<T>): Promise<T> {
    callbacksRunning += 1;
    let running: Promise<T>;
    try {
      running = current.run(this, fn);
    } catch (error) {
      callbackEnded();
      throw error;
    }
    return Promise.resolve(running).finally(callbackEnded);
  }

  /** Stops new statements, waits for ones still running, and throws if any failed. */
  async finish(): Promise<void> {
    this.active = false;
    await this.#tail;
    if (this.failure) throw new TransactionAbortedError(this.failure.error);
  }

  async #exec<T>(op: () => T | Promise<T>): Promise<T> {
    if (!this.active) throw new StoreError("transaction already finished: do not keep the tx object after the callback");
    if (this.failure) throw new TransactionAbortedError(this.failure.error);
    try {
      return await op();
    } catch (error) {
      this.failure = { error };
      throw error;
    }
  }
}

/** Called by store-level methods; `closed` is checked here too so both engines word it the same. */
export function assertUsable(owner: object, closed: boolean): void {
  if (closed) throw new StoreClosedError("store is closed");
  const guard = current.getStore();
  if (guard?.active && guard.owner === owner) {
    throw new StoreError("store used inside its own transaction callback: use the tx argument (on SQLite this would deadlock)");
  }
}

function noop(): void {}

import { StoreClosedError, StoreOverloadedError } from "./errors.js";
import type { Store, Transaction } from "./types.js";
import { forwardingStore } from "./forwarding.js";

export interface GroupCommitterOptions {
  /** Most work items run in one transaction. */
  maxBatchSize: number;
  /** How long an idle committer waits for more items before starting a batch (default 0: next turn of the event loop). */
  maxDelayMs?: number;
  /** Items waiting for a batch beyond which submit rejects with StoreOverloadedError (default 10,000). */
  maxQueued?: number;
}

export interface GroupCommitterStats {
  /** Transactions that ran a batch of two or more items. */
  batches: number;
  /** Transactions that ran one item (single-item batches and isolated retries). */
  singles: number;
  /** Items re-run alone after their batch failed. */
  retried: number;
}

interface Item {
  seq: number;
  work: (tx: Transaction) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit (unit of work): many small writes share one transaction, so durable throughput
 * is bounded by batches per second rather than fsyncs per write.
 *
 * Items submitted while a batch commits are queued and run together in the next transaction,
 * one after another in submission order. Each submit() resolves only after its batch's COMMIT
 * succeeded. If any item (or the COMMIT) fails, the batch is rolled back and every one of its
 * items is re-run alone in its own transaction, so a bad item fails only itself.
 *
 * Work items must therefore be re-runnable: no effects outside `tx` (no events sent, no memory
 * changed, no answers given) until their promise resolves. If the connection dies during COMMIT
 * the outcome is unknown and a re-run may find its own earlier write: guard writes with unique
 * keys so a duplicate fails instead of applying twice.
 * Do not await submit() from inside a work item: the item would wait for its own batch.
 */
export class GroupCommitter {
  readonly #store: Store;
  readonly #maxBatchSize: number;
  readonly #maxDelayMs: number;
  readonly #maxQueued: number;
  readonly #queue: Item[] = [];
  readonly #flushWaiters: Array<{ seq: number; resolve: () => void }> = [];
  readonly #stats: GroupCommitterStats = { batches: 0, singles: 0, retried: 0 };
  #nextSeq = 1;
  #settledSeq = 0;
  #urgentSeq = 0;
  #running = false;
  #immediate: NodeJS.Immediate | undefined;
  #delay: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(store: Store, opts: GroupCommitterOptions) {
    if (!Number.isInteger(opts.maxBatchSize) || opts.maxBatchSize < 1) throw new RangeError("maxBatchSize must be an integer >= 1");
    this.#store = store;
    this.#maxBatchSize = opts.maxBatchSize;
    this.#maxDelayMs = Math.max(0, opts.maxDelayMs ?? 0);
    this.#maxQueued = opts.maxQueued ?? 10_000;
  }

  submit<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreClosedError("group committer is closed"));
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(new StoreOverloadedError(this.#queue.length, this.#maxQueued));
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ seq: this.#nextSeq++, work, resolve: resolve as (value: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Resolves once every item submitted before the call has settled; skips the batching delay. */
  flush(): Promise<void> {
    const seq = this.#nextSeq - 1;
    if (this.#settledSeq >= seq) return Promise.resolve();
    this.#urgentSeq = seq;
    this.#schedule();
    return new Promise((resolve) => this.#flushWaiters.push({ seq, resolve }));
  }

  /** Refuses new items and drains the queued ones. Does not close the store. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  get stats(): Readonly<GroupCommitterStats> {
    return { ...this.#stats };
  }

  get queued(): number {
    return this.#queue.length;
  }

  #schedule(): void {
    if (this.#running || this.#immediate) return; // a run is already coming; it takes the whole queue
    const now = this.#maxDelayMs === 0 || this.#queue.length >= this.#maxBatchSize || this.#urgentSeq > this.#settledSeq;
    if (now) {
      // setImmediate, not a microtask: requests arriving in the same event-loop turn share the batch.
      this.#immediate = setImmediate(() => void this.#pump());
    } else {
      this.#delay ??= setTimeout(() => void this.#pump(), this.#maxDelayMs);
    }
  }

  async #pump(): Promise<void> {
    clearImmediate(this.#immediate);
    clearTimeout(this.#delay);
    this.#immediate = this.#delay = undefined;
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) await this.#runBatch(this.#queue.splice(0, this.#maxBatchSize));
    } finally {
      this.#running = false;
    }
  }

  async #runBatch(batch: Item[]): Promise<void> {
    if (batch.length === 1) return this.#runAlone(batch[0]!);
    this.#stats.batches += 1;
    let results: unknown[];
    try {
      results = await this.#store.transaction(async (tx) => {
        const out: unknown[] = [];
        for (const item of batch) out.push(await item.work(tx));
        return out;
      });
    } catch {
      // We cannot tell which item doomed the batch (an earlier one may have caused a later one's
      // failure), so each gets a transaction of its own.
      this.#stats.retried += batch.length;
      for (const item of batch) await this.#runAlone(item);
      return;
    }
    batch.forEach((item, i) => this.#settle(item, () => item.resolve(results[i])));
  }

  async #runAlone(item: Item): Promise<void> {
    this.#stats.singles += 1;
    try {
      const result = await this.#store.transaction((tx) => item.work(tx));
      this.#settle(item, () => item.resolve(result));
    } catch (error) {
      this.#settle(item, () => item.reject(error));
    }
  }

  #settle(item: Item, outcome: () => void): void {
    outcome();
    this.#settledSeq = item.seq;
    for (let i = this.#flushWaiters.length - 1; i >= 0; i--) {
      const waiter = this.#flushWaiters[i]!;
      if (waiter.seq <= this.#settledSeq) {
        this.#flushWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

/** Transactions per shared commit at most (groupCommitting). */
const GROUP_COMMIT_MAX_BATCH = 64;

export interface GroupCommittingStore {
  /** The store, its durable transactions committed in groups on SQLite. */
  store: Store;
  /** Commits what is queued; later durable transactions on `store` fail. */
  close(): Promise<void>;
}

/**
 * A view of `store` whose durable transactions share commits on SQLite: transactions submitted
 * while one commits run together in the next (GroupCommitter), one fsync for several callers,
 * each still durable before its caller goes on. A batch that fails is rolled back and each of its
 * transactions runs again alone, so every transaction given to it must be safe to run again:
 * effects only through `tx`, expected refusals returned rather than thrown. Non-durable
 * transactions and everything else go to `store` itself. On PostgreSQL the store is returned
 * unchanged: commits do not stop the event loop there, and one transaction holding several
 * callers' rows could deadlock against another instance's.
 */
export function groupCommitting(store: Store, options: { maxBatchSize?: number } = {}): GroupCommittingStore {
  if (store.dialect !== "sqlite") return { store, close: async () => undefined };
  const committer = new GroupCommitter(store, { maxBatchSize: options.maxBatchSize ?? GROUP_COMMIT_MAX_BATCH });
  return {
    store: forwardingStore(store, {
      transaction: (fn, transactionOptions) => (transactionOptions?.durable === false ? store.transaction(fn, transactionOptions) : committer.submit(fn)),
    }),
    close: () => committer.close(),
  };
}

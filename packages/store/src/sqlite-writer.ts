// Runs batches of write statements on a thread of their own (sqlite-writer.worker.mjs), with a
// second connection to the same file. better-sqlite3 is synchronous: on the service's own
// connection a batch's statements and the fsync at COMMIT would stop the event loop for as long
// as they take. WAL lets the service's connection keep reading meanwhile; SQLite's write lock
// orders the two connections' writes.
import { Worker } from "node:worker_threads";
import { BatchChainBrokenError } from "./errors.js";
import { mapSqliteError } from "./sqlite.js";

export interface WorkerStatement {
  /** SQL with positional `?` placeholders. */
  sql: string;
  args: unknown[];
}

/** The code the writer thread gives a chained batch it refused because an earlier one failed (sqlite-writer.worker.mjs). */
const CHAIN_BROKEN = "CLEARMESH_CHAIN_BROKEN";

/** Distinct statement texts the writer thread keeps prepared; beyond it the least recent is forgotten. */
const PREPARED_STATEMENTS = 256;

type Reply = { type: "done"; id: number } | { type: "failed"; id: number; error: { message: string; code?: string } } | { type: "closed" };

export class SqliteBatchWriter {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>();
  #nextId = 0;
  /** SQL text → its number on the writer thread (insertion order = least recently used first). */
  readonly #statementIds = new Map<string, number>();
  #nextStatementId = 0;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
  ) {}

  /**
   * Runs the statements in one transaction; resolves once COMMIT returned (durable: synchronous =
   * FULL). A batch of a chain runs only if no earlier batch of that chain failed on the thread.
   */
  run(batch: readonly WorkerStatement[], chain?: number): Promise<void> {
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    // Only a statement's number crosses to the thread, with its text the first time: structured
    // cloning a multi-row INSERT's SQL on every batch cost more than running it.
    const used = new Set<number>();
    const messageBatch = batch.map(({ sql, args }) => {
      let statementId = this.#statementIds.get(sql);
      const known = statementId !== undefined;
      if (known) this.#statementIds.delete(sql);
      statementId ??= this.#nextStatementId++;
      this.#statementIds.set(sql, statementId);
      used.add(statementId);
      return { statement: known ? { id: statementId } : { id: statementId, sql }, args };
    });
    const forget: number[] = [];
    for (const [sql, statementId] of this.#statementIds) {
      if (this.#statementIds.size <= PREPARED_STATEMENTS) break;
      if (used.has(statementId)) continue;
      forget.push(statementId);
      this.#statementIds.delete(sql);
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: "batch", id, batch: messageBatch, chain });
      if (forget.length > 0) worker.postMessage({ type: "forget", ids: forget });
    });
  }

  /** Waits for the batches sent, then closes the writer's connection and ends the thread. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return;
    await Promise.allSettled([...this.#pending.values()].map((entry) => new Promise<void>((settled) => {
      const { resolve, reject } = entry;
      entry.resolve = () => { resolve(); settled(); };
      entry.reject = (error) => { reject(error); settled(); };
    })));
    const closed = new Promise<void>((resolve) => {
      worker.once("exit", () => resolve());
      worker.on("message", (reply: Reply) => {
        if (reply.type === "closed") void worker.terminate();
      });
    });
    worker.postMessage({ type: "close" });
    await closed;
    this.#worker = undefined;
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./sqlite-writer.worker.mjs", import.meta.url), {
      workerData: { path: this.path, busyTimeoutMs: this.busyTimeoutMs },
      // Plain JavaScript: no TypeScript loader (it would start one more isolate in the thread).
      execArgv: [],
      // The thread runs statements, not JavaScript: a small heap keeps its memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 },
    });
    // The service's servers keep the process alive, not this thread.
    worker.unref();
    worker.on("message", (reply: Reply) => {
      if (reply.type === "closed") return;
      const entry = this.#pending.get(reply.id);
      if (!entry) return;
      this.#pending.delete(reply.id);
      if (reply.type === "done") {
        entry.resolve();
        return;
      }
      // The failed batch may have stopped before preparing a statement sent with it: start the
      // numbering afresh on both sides (texts go again), so no later batch names an unknown one.
      this.#statementIds.clear();
      worker.postMessage({ type: "forget-all" });
      entry.reject(reply.error.code === CHAIN_BROKEN
        ? new BatchChainBrokenError()
        : mapSqliteError(Object.assign(new Error(reply.error.message), { code: reply.error.code })));
    });
    const lost = (error: unknown) => {
      if (this.#worker === worker) {
        this.#worker = undefined;
        // A new thread knows no statement: texts go again.
        this.#statementIds.clear();
      }
      // Whether those batches committed is unknown to us; the caller treats a failed batch as lost
      // and rebuilds from the store, which shows whatever did commit.
      for (const [id, entry] of this.#pending) {
        this.#pending.delete(id);
        entry.reject(error);
      }
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`the SQLite writer thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}

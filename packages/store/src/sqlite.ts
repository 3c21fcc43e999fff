import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { AsyncLock } from "./async-lock.js";
import { sequentialBatchChain } from "./batch-chain.js";
import { BatchChainBrokenError, UniqueViolationError } from "./errors.js";
import { runMigrations, type MigrationTx } from "./migrations.js";
import { LruCache, translatePlaceholders } from "./placeholders.js";
import { assertUsable, TxGuard } from "./tx-guard.js";
import { SqliteBatchWriter, type WorkerStatement } from "./sqlite-writer.js";
import type { BatchChain, Migration, Row, SqlValue, Statement, Store, Transaction, TransactionOptions } from "./types.js";

const STATEMENT_CACHE_SIZE = 500;

interface Prepared {
  stmt: Database.Statement<unknown[]>;
  order: number[];
  expected: number;
}

export interface SqliteOptions {
  busyTimeoutMs?: number;
}

/** Opens (creating if needed) a SQLite database file with the durability settings we rely on. */
export function openSqlite(path: string, options: SqliteOptions = {}): SqliteStore {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  // The synchronous busy wait is only used while opening (once, at boot).
  const db = new Database(path, { timeout: busyTimeoutMs });
  try {
    db.pragma("journal_mode = WAL");
    // FULL: a commit is durable once COMMIT returns, which group commit promises to callers.
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    // SQLite's busy_timeout waits synchronously, freezing the event loop (and deadlocking against
    // another connection of this same process); we wait for locks asynchronously instead.
    db.pragma("busy_timeout = 0");
    db.defaultSafeIntegers(true);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(path, db, busyTimeoutMs);
}

/** Runs statements on one connection; shared by the store and its transactions. */
class SqliteRunner {
  readonly #cache = new LruCache<string, Prepared>(STATEMENT_CACHE_SIZE);
  constructor(readonly db: Database.Database) {}

  all<T extends Row>(sql: string, params: readonly SqlValue[] | undefined): T[] {
    const { stmt, args } = this.#bind(sql, params);
    try {
      if (stmt.reader) return stmt.all(...args) as T[];
      stmt.run(...args);
      return [];
    } catch (error) {
      throw mapSqliteError(error);
    }
  }

  run(sql: string, params: readonly SqlValue[] | undefined): { changes: number } {
    const { stmt, args } = this.#bind(sql, params);
    try {
      // For statements that return rows (INSERT … RETURNING) count rows, as pg's rowCount does.
      if (stmt.reader) return { changes: stmt.all(...args).length };
      return { changes: stmt.run(...args).changes };
    } catch (error) {
      throw mapSqliteError(error);
    }
  }

  script(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (error) {
      throw mapSqliteError(error);
    }
  }

  #bind(sql: string, params: readonly SqlValue[] = []): { stmt: Database.Statement<unknown[]>; args: unknown[] } {
    const prepared = this.#prepare(sql);
    if (params.length !== prepared.expected) {
      throw new RangeError(`statement expects ${prepared.expected} parameter(s), got ${params.length}`);
    }
    return { stmt: prepared.stmt, args: prepared.order.map((i) => toSqlite(params[i])) };
  }

  #prepare(sql: string): Prepared {
    let prepared = this.#cache.get(sql);
    if (!prepared) {
      const translated = translatePlaceholders(sql);
      const stmt = prepareOrMap(this.db, translated.sql).safeIntegers(true);
      prepared = { stmt, order: translated.order, expected: translated.expected };
      this.#cache.set(sql, prepared);
    }
    return prepared;
  }
}

function prepareOrMap(db: Database.Database, sql: string): Database.Statement<unknown[]> {
  try {
    return db.prepare<unknown[]>(sql);
  } catch (error) {
    throw mapSqliteError(error);
  }
}

/** SQLite has no boolean type; undefined is treated as NULL as pg does. */
function toSqlite(value: SqlValue | undefined): unknown {
  if (value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  return value;
}

/** Numbers BatchChains across the process (each store's writer thread sees only its own). */
let nextChainId = 1;

/**
 * One connection for the whole service. better-sqlite3 is synchronous, but transaction callbacks
 * are async, so every use of the connection goes through one FIFO lock: a statement issued
 * outside a transaction while one is open waits instead of running inside it.
 */
export class SqliteStore implements Store {
  readonly dialect = "sqlite" as const;
  readonly #runner: SqliteRunner;
  readonly #lock = new AsyncLock();
  #closed = false;
  #writer: SqliteBatchWriter | undefined;
  readonly #translated = new LruCache<string, { sql: string; order: number[]; expected: number }>(STATEMENT_CACHE_SIZE);

  constructor(
    /** Database file path (used for the leader lock file). */
    readonly path: string,
    db: Database.Database,
    private readonly busyTimeoutMs: number,
  ) {
    this.#runner = new SqliteRunner(db);
  }

  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.#outside(() => this.#runner.all<T>(sql, params));
  }

  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.#outside(() => this.#runner.run(sql, params));
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    assertUsable(this, this.#closed);
    if (options.durable !== false) return this.#lock.with(() => this.#inTransaction(fn));
    return this.#lock.with(async () => {
      // WAL + NORMAL: this commit is not fsync'd; the next FULL commit's fsync covers it.
      this.#runner.script("PRAGMA synchronous = NORMAL");
      try {
        return await this.#inTransaction(fn);
      } finally {
        this.#runner.script("PRAGMA synchronous = FULL");
      }
    });
  }

  async writeBatch(statements: readonly Statement[]): Promise<void> {
    assertUsable(this, this.#closed);
    if (this.path === ":memory:") {
      // A private in-memory database cannot be opened from another thread.
      return this.transaction(async (tx) => {
        for (const statement of statements) await tx.execute(statement.sql, statement.params);
      });
    }
    return this.#writeOnThread(statements, undefined);
  }

  batchChain(): BatchChain {
    if (this.path === ":memory:") return sequentialBatchChain((statements) => this.writeBatch(statements));
    // The writer thread runs batches in the order they arrive and refuses the rest of a chain
    // after a failure; this side stops sending once it knows (or could not send one at all).
    const chain = nextChainId++;
    let broken = false;
    return {
      write: (statements) => {
        if (broken) return Promise.reject(new BatchChainBrokenError());
        let written: Promise<void>;
        try {
          assertUsable(this, this.#closed);
          written = this.#writeOnThread(statements, chain);
        } catch (error) {
          broken = true;
          return Promise.reject(error);
        }
        return written.catch((error: unknown) => {
          broken = true;
          throw error;
        });
      },
    };
  }

  /** Hands a batch to the writer thread (throws at once if a statement's parameters do not fit). */
  #writeOnThread(statements: readonly Statement[], chain: number | undefined): Promise<void> {
    const batch: WorkerStatement[] = statements.map(({ sql, params }) => {
      let translated = this.#translated.get(sql);
      if (!translated) {
        translated = translatePlaceholders(sql);
        this.#translated.set(sql, translated);
      }
      if (params.length !== translated.expected) throw new RangeError(`statement expects ${translated.expected} parameter(s), got ${params.length}`);
      return { sql: translated.sql, args: translated.order.map((index) => toSqlite(params[index])) };
    });
    this.#writer ??= new SqliteBatchWriter(this.path, this.busyTimeoutMs);
    return this.#writer.run(batch, chain);
  }

  migrate(migrations: readonly Migration[]): Promise<void> {
    assertUsable(this, this.#closed);
    const migrationTransaction = <T>(fn: (tx: MigrationTx) => Promise<T>): Promise<T> =>
      this.#lock.with(() => this.#inTransaction(fn));
    return runMigrations({ dialect: this.dialect, query: (sql, p) => this.query(sql, p), migrationTransaction }, migrations);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer?.close();
    // Callers already queued on the lock run first; then nothing can use the connection.
    await this.#lock.with(() => this.#runner.db.close());
  }

  async #outside<T>(op: () => T): Promise<T> {
    assertUsable(this, this.#closed);
    // Fast path: nothing holds the connection, and op is synchronous, so nothing can interleave.
    if (this.#lock.idle) {
      try {
        return op();
      } catch (error) {
        if (!isBusy(error)) throw error;
      }
    }
    return this.#lock.with(() => this.#retryWhileBusy(op));
  }

  /**
   * Another process (or connection) holds the write lock: SQLITE_BUSY means the statement did
   * nothing, so retry with backoff, yielding the event loop, until busyTimeoutMs has passed.
   */
  async #retryWhileBusy<T>(op: () => T): Promise<T> {
    const deadline = Date.now() + this.busyTimeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        return op();
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async #inTransaction<T>(fn: (tx: SqliteTransaction) => Promise<T>): Promise<T> {
    const db = this.#runner.db;
    await this.#retryWhileBusy(() => this.#runner.script("BEGIN IMMEDIATE"));
    const tx = new SqliteTransaction(this, this.#runner);
    try {
      const result = await tx.guard.runCallback(() => fn(tx));
      await tx.guard.finish();
      this.#runner.script("COMMIT");
      return result;
    } catch (error) {
      tx.guard.active = false;
      // Some errors (SQLITE_FULL, IOERR, BUSY on COMMIT) end the transaction by themselves.
      if (db.inTransaction) rollbackQuietly(db);
      throw error;
    }
  }
}

class SqliteTransaction implements MigrationTx {
  readonly dialect = "sqlite" as const;
  readonly guard: TxGuard;

  constructor(
    owner: object,
    private readonly runner: SqliteRunner,
  ) {
    this.guard = new TxGuard(owner);
  }

  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.guard.run(() => this.runner.all<T>(sql, params));
  }

  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.guard.run(() => this.runner.run(sql, params));
  }

  script(sql: string): Promise<void> {
    return this.guard.run(() => this.runner.script(sql));
  }
}

/** Maps SQLite's unique/primary-key failures to UniqueViolationError; other errors pass through. */
export function mapSqliteError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (code !== "SQLITE_CONSTRAINT_UNIQUE" && code !== "SQLITE_CONSTRAINT_PRIMARYKEY") return error;
  const message = (error as Error).message;
  // "UNIQUE constraint failed: t.a, t.b" or "UNIQUE constraint failed: index 'idx'"
  const index = /index '([^']+)'/.exec(message)?.[1];
  if (index) return new UniqueViolationError({ constraint: index, cause: error });
  const targets = message.replace(/^.*constraint failed:\s*/i, "").split(",").map((s) => s.trim());
  const table = targets[0]?.includes(".") ? targets[0].split(".")[0] : undefined;
  const columns = targets.map((t) => t.slice(t.indexOf(".") + 1)).filter(Boolean);
  return new UniqueViolationError({ table, columns, cause: error });
}

function isBusy(error: unknown): boolean {
  return String((error as { code?: unknown }).code).startsWith("SQLITE_BUSY");
}

/** The caller's error matters more than a failed ROLLBACK (after which SQLite has rolled back anyway). */
function rollbackQuietly(db: Database.Database): void {
  try {
    db.exec("ROLLBACK");
  } catch {
    // ignored: see above
  }
}

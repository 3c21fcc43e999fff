/**
 * The storage contract shared by the SQLite and PostgreSQL engines.
 *
 * Portability rules callers can rely on (both engines behave the same):
 * - every integer column (SQLite INTEGER, PostgreSQL int2/int4/int8) and every integral
 *   PostgreSQL numeric (e.g. `SUM(bigint)`) comes back as `bigint`;
 * - BLOB / BYTEA come back as `Buffer`;
 * - placeholders are `$1, $2 …` on both engines;
 * - a statement that fails inside a transaction dooms that transaction (see `Store.transaction`).
 * Not unified: booleans (PostgreSQL `true`, SQLite `1n` — both truthy, so test truthiness) and
 * timestamps (store epoch milliseconds as BIGINT when the value must be portable).
 */

export type SqlValue = string | bigint | number | boolean | null | Uint8Array;
export type Row = Record<string, unknown>;
export type Dialect = "sqlite" | "postgres";

export interface Queryable {
  /** Runs one statement; SQL uses $1, $2 … placeholders on both engines (translated for SQLite; a placeholder may repeat). */
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs one statement, returns rows changed (for statements that return rows: rows returned). */
  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

/** One statement of a write batch. */
export interface Statement {
  sql: string;
  params: readonly SqlValue[];
}

export interface Transaction extends Queryable {
  readonly dialect: Dialect;
}

export interface Store extends Queryable {
  readonly dialect: Dialect;
  /**
   * Runs fn in one transaction (BEGIN IMMEDIATE on SQLite; a dedicated pooled client on
   * PostgreSQL); commits if fn resolves, rolls back and rethrows if it rejects. On SQLite
   * transactions are serialized by an async queue (one connection).
   *
   * A statement that fails inside the transaction dooms it on both engines (PostgreSQL would
   * otherwise silently turn the COMMIT into a ROLLBACK): later statements reject with
   * `TransactionAbortedError`, and if fn swallows the error and resolves, `transaction` rolls
   * back and rejects with `TransactionAbortedError` (its `cause` is the first failure). Expected
   * duplicates inside a transaction should use `INSERT … ON CONFLICT DO NOTHING` instead.
   *
   * Use only the `tx` argument inside fn: calling the store itself from inside its own open
   * transaction throws (on SQLite it would deadlock).
   *
   * `{ durable: false }` commits without waiting for the disk (SQLite WAL `synchronous =
   * NORMAL` for this commit; PostgreSQL `SET LOCAL synchronous_commit = off`). The commit is
   * atomic and ordered like any other, and the next durable commit makes it durable too, but a
   * power failure (or, on PostgreSQL, a server crash) before then may undo it. Only for work that
   * is safe to do again, such as deleting outbox rows JetStream already acknowledged.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Runs write statements in one durable transaction, in order, all or nothing; resolves once it
   * is committed. For a single writer's batches, whose statements need no answers: on SQLite they
   * run on a writer thread with its own connection, so statement execution and the fsync do not
   * stop the event loop (reads on the store keep going and see the batch once it resolves); on
   * PostgreSQL they run in an ordinary transaction. A failure rejects with the statement's error
   * (unique violations as UniqueViolationError) and nothing of the batch is kept.
   */
  writeBatch(statements: readonly Statement[]): Promise<void>;
  /**
   * A new chain of write batches, for a single writer that hands its next batch over before the
   * previous one has committed (see BatchChain). Chains are independent of each other.
   */
  batchChain(): BatchChain;
  /**
   * Applies the migrations not yet recorded in `schema_migrations`, in list order, each in its
   * own transaction. Safe to call on every start and from several processes at once.
   * Migration SQL must be transactional (no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY, no PRAGMA).
   */
  migrate(migrations: readonly Migration[]): Promise<void>;
  /** Waits for running work, then closes the connection(s). Later calls reject with StoreClosedError. */
  close(): Promise<void>;
}

/**
 * Write batches that commit in the order they were written, each in its own durable transaction
 * like `Store.writeBatch`, without the writer waiting for one to commit before handing over the
 * next: on SQLite the writer thread starts the next batch the moment the previous one commits;
 * on PostgreSQL the next transaction starts once the previous one has committed.
 *
 * A batch is applied only if every earlier batch of its chain committed. Once one fails, every
 * later batch of the chain rejects with `BatchChainBrokenError` and writes nothing, including
 * batches already handed over; the chain stays broken (start a new one after rebuilding whatever
 * the writer kept in memory).
 */
export interface BatchChain {
  write(statements: readonly Statement[]): Promise<void>;
}

export interface TransactionOptions {
  /** Default true: the commit is on disk when `transaction` resolves. */
  durable?: boolean;
}

export interface Migration {
  id: string;
  /** same SQL for both, or per dialect; may hold several statements */
  sql: string | { sqlite: string; postgres: string };
}

export interface OpenStoreOptions {
  /** `postgres://…` / `postgresql://…` for PostgreSQL, `sqlite:/path/file.db` for SQLite. */
  url?: string;
  /** SQLite database file (parent folders are created); `:memory:` for a private in-memory database. */
  sqlitePath?: string;
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** PostgreSQL `statement_timeout`; SQLite has no statement timeout and ignores it. */
  statementTimeoutMs?: number;
  /** SQLite `busy_timeout`: how long to wait for another process's write lock (default 5000). */
  busyTimeoutMs?: number;
}

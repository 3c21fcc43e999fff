import pg from "pg";
import type { ClientConfig, CustomTypesConfig, PoolClient, PoolConfig, QueryConfig } from "pg";
import { sequentialBatchChain } from "./batch-chain.js";
import { UniqueViolationError } from "./errors.js";
import { runMigrations, type MigrationTx } from "./migrations.js";
import { assertUsable, TxGuard } from "./tx-guard.js";
import type { BatchChain, Migration, Row, SqlValue, Statement, Store, Transaction, TransactionOptions } from "./types.js";

export interface PostgresOptions {
  poolSize?: number;
  statementTimeoutMs?: number;
}

const toBigInt = (text: string): bigint => BigInt(text);
// numeric: integral values (SUM(bigint) yields numeric) become bigint like SQLite's SUM;
// fractional ones stay exact strings.
const numeric = (text: string): bigint | string => (/^-?\d+$/.test(text) ? BigInt(text) : text);

/**
 * Per-pool parsers (the global pg.types registry would change every other pool in the process):
 * every integer type comes back as bigint, matching SQLite under safeIntegers(true).
 */
const PARSERS = new Map<number, (text: string) => unknown>([
  [20, toBigInt], // int8
  [21, toBigInt], // int2
  [23, toBigInt], // int4
  [1700, numeric],
  [1005, integerArray], // int2[]
  [1007, integerArray], // int4[]
  [1016, integerArray], // int8[]
]);

function integerArray(text: string): unknown[] {
  const strings = pg.types.getTypeParser(1009 as never)(text) as unknown[]; // 1009 = text[]: elements stay strings
  return deepMap(strings, (s) => (s === null ? null : BigInt(s as string)));
}

function deepMap(values: unknown[], fn: (v: unknown) => unknown): unknown[] {
  return values.map((v) => (Array.isArray(v) ? deepMap(v, fn) : fn(v)));
}

const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text") =>
    (format ?? "text") === "text" && PARSERS.has(oid) ? PARSERS.get(oid) : pg.types.getTypeParser(oid, format)) as CustomTypesConfig["getTypeParser"],
};

/** Opens a pool and checks the server answers, so a bad STORE_URL fails at boot. */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<PostgresStore> {
  const clientConfig: ClientConfig = { connectionString: url, types, statement_timeout: options.statementTimeoutMs };
  const pool = new pg.Pool({ ...clientConfig, max: options.poolSize ?? 10 } satisfies PoolConfig);
  // Idle clients that lose their connection are reported here and discarded by the pool;
  // without a listener Node would treat the event as an uncaught error and exit.
  pool.on("error", () => {});
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  return new PostgresStore(pool, clientConfig);
}

/** One statement, always over the extended protocol so a query string can never hold two statements. */
function statement(sql: string, params: readonly SqlValue[] = []): QueryConfig {
  const config: QueryConfig & { queryMode: "extended" } = { text: sql, values: [...params], queryMode: "extended" };
  return config;
}

export class PostgresStore implements Store {
  readonly dialect = "postgres" as const;
  #closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clientConfig: ClientConfig,
  ) {}

  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    assertUsable(this, this.#closed);
    try {
      return (await this.pool.query(statement(sql, params))).rows as T[];
    } catch (error) {
      throw mapPgError(error);
    }
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    assertUsable(this, this.#closed);
    try {
      return { changes: (await this.pool.query(statement(sql, params))).rowCount ?? 0 };
    } catch (error) {
      throw mapPgError(error);
    }
  }

  transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#transaction(fn, options.durable !== false);
  }

  writeBatch(statements: readonly Statement[]): Promise<void> {
    return this.#transaction(async (tx) => {
      for (const statement of statements) await tx.execute(statement.sql, statement.params);
    });
  }

  batchChain(): BatchChain {
    return sequentialBatchChain((statements) => this.writeBatch(statements));
  }

  migrate(migrations: readonly Migration[]): Promise<void> {
    assertUsable(this, this.#closed);
    const migrationTransaction = <T>(fn: (tx: MigrationTx) => Promise<T>): Promise<T> => this.#transaction(fn);
    return runMigrations({ dialect: this.dialect, query: (sql, p) => this.query(sql, p), migrationTransaction }, migrations);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // pool.end() waits for checked-out clients (running transactions) to be released.
    await this.pool.end();
  }

  /** A connection outside the pool, for session state that must outlive any one query (leader locks). */
  async connectDedicated(): Promise<pg.Client> {
    assertUsable(this, this.#closed);
    const client = new pg.Client({ ...this.clientConfig, statement_timeout: undefined, keepAlive: true });
    // Errors are reported by whoever owns the client; never let one crash the process meanwhile.
    client.on("error", () => {});
    await client.connect();
    return client;
  }

  async #transaction<T>(fn: (tx: PostgresTransaction) => Promise<T>, durable = true): Promise<T> {
    assertUsable(this, this.#closed);
    const client = await this.pool.connect();
    const tx = new PostgresTransaction(this, client);
    let broken: Error | undefined;
    try {
      await client.query(durable ? "BEGIN" : "BEGIN; SET LOCAL synchronous_commit = off");
      const result = await tx.guard.runCallback(() => fn(tx));
      await tx.guard.finish();
      await client.query("COMMIT");
      return result;
    } catch (error) {
      tx.guard.active = false;
      await tx.guard.finish().catch(() => {}); // no ROLLBACK while a statement is still running
      broken = await rollback(client);
      throw mapPgError(error);
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: release(err) destroys it.
      client.release(broken);
    }
  }
}

async function rollback(client: PoolClient): Promise<Error | undefined> {
  try {
    await client.query("ROLLBACK");
    return undefined;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

class PostgresTransaction implements MigrationTx {
  readonly dialect = "postgres" as const;
  readonly guard: TxGuard;

  constructor(
    owner: object,
    private readonly client: PoolClient,
  ) {
    this.guard = new TxGuard(owner);
  }

  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.guard.run(async () => (await this.#send(statement(sql, params))).rows as T[]);
  }

  execute(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.guard.run(async () => ({ changes: (await this.#send(statement(sql, params))).rowCount ?? 0 }));
  }

  /** Without parameters pg uses the simple query protocol, which accepts several statements. */
  script(sql: string): Promise<void> {
    return this.guard.run(async () => {
      await this.#send({ text: sql });
    });
  }

  async #send(config: QueryConfig): Promise<pg.QueryResult> {
    try {
      return await this.client.query(config);
    } catch (error) {
      throw mapPgError(error);
    }
  }
}

/** Maps unique violations (SQLSTATE 23505) to UniqueViolationError; other errors pass through. */
export function mapPgError(error: unknown): unknown {
  const e = error as { code?: unknown; constraint?: string; table?: string };
  if (e?.code !== "23505") return error;
  return new UniqueViolationError({ constraint: e.constraint, table: e.table, cause: error });
}

import { StoreError } from "./errors.js";
import type { Dialect, Migration, Transaction } from "./types.js";

/** What the migration runner needs from an engine: a transaction that can also run a script. */
export interface MigrationTx extends Transaction {
  /** Runs multi-statement SQL without parameters (SQLite `exec`, pg simple query protocol). */
  script(sql: string): Promise<void>;
}

export interface MigrationEngine {
  readonly dialect: Dialect;
  query: Transaction["query"];
  migrationTransaction<T>(fn: (tx: MigrationTx) => Promise<T>): Promise<T>;
}

// A constant outside hashtext()'s int4 range, so no leader-lock name can collide with it.
const PG_MIGRATION_LOCK = "7310033410001";

const CREATE_TABLE =
  "CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)";

/**
 * Each missing migration runs in its own transaction that first takes the migration lock
 * (BEGIN IMMEDIATE already excludes other writers on SQLite; PostgreSQL takes a transaction-scoped
 * advisory lock) and re-checks the table, so concurrent starters apply each migration once.
 */
export async function runMigrations(engine: MigrationEngine, migrations: readonly Migration[]): Promise<void> {
  checkIds(migrations);
  await engine.migrationTransaction(async (tx) => {
    await lock(tx);
    await tx.execute(CREATE_TABLE);
  });
  const applied = await appliedIds(engine);
  for (const migration of migrations) {
    if (!applied.has(migration.id)) await applyOne(engine, migration);
  }
}

async function applyOne(engine: MigrationEngine, migration: Migration): Promise<void> {
  await engine.migrationTransaction(async (tx) => {
    await lock(tx);
    // Another process may have applied it between our read and our lock.
    const done = await tx.query("SELECT id FROM schema_migrations WHERE id = $1", [migration.id]);
    if (done.length > 0) return;
    await tx.script(sqlFor(migration, engine.dialect));
    await tx.execute("INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)", [migration.id, BigInt(Date.now())]);
  });
}

async function lock(tx: MigrationTx): Promise<void> {
  if (tx.dialect === "postgres") await tx.query(`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`);
}

async function appliedIds(engine: MigrationEngine): Promise<Set<string>> {
  const rows = await engine.query<{ id: string }>("SELECT id FROM schema_migrations");
  return new Set(rows.map((r) => r.id));
}

function sqlFor(migration: Migration, dialect: Dialect): string {
  return typeof migration.sql === "string" ? migration.sql : migration.sql[dialect];
}

function checkIds(migrations: readonly Migration[]): void {
  const seen = new Set<string>();
  for (const { id } of migrations) {
    if (!id) throw new StoreError("migration without an id");
    if (seen.has(id)) throw new StoreError(`migration id "${id}" appears twice`);
    seen.add(id);
  }
}

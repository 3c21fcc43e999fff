// The bank-adapter's tables. Money and times are int64 (bigint in code); ids are text. The same
// SQL runs on SQLite (BIGINT has integer affinity) and PostgreSQL.
import type { Migration } from "@clearmesh/store";

export const bankAdapterMigrations: readonly Migration[] = [
  {
    id: "bank-adapter-0001-settlement-books",
    sql: `
      CREATE TABLE settlement_accounts (
        participant_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        balance_minor BIGINT NOT NULL,
        PRIMARY KEY (participant_id, currency)
      );
      CREATE TABLE settlement_executions (
        instruction_id TEXT PRIMARY KEY,
        window_id TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        net_minor BIGINT NOT NULL,
        attempt INTEGER NOT NULL,
        executed_at_ms BIGINT NOT NULL
      );
      CREATE INDEX settlement_executions_window ON settlement_executions (window_id);`,
  },
];

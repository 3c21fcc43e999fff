// Clearing's tables. Money and times are int64 (bigint in code); ids are text.
import type { Migration } from "@clearmesh/store";

export const clearingMigrations: readonly Migration[] = [
  {
    id: "clearing-0001-directory",
    sql: {
      sqlite: `
        CREATE TABLE participants (
          participant_id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          kind INTEGER NOT NULL,
          status INTEGER NOT NULL,
          currencies TEXT NOT NULL,
          version INTEGER NOT NULL,
          created_at_ms INTEGER NOT NULL,
          updated_at_ms INTEGER NOT NULL
        );
        CREATE TABLE participant_keys (
          participant_id TEXT NOT NULL REFERENCES participants(participant_id),
          key_id TEXT NOT NULL,
          public_key BLOB NOT NULL,
          status INTEGER NOT NULL,
          created_at_ms INTEGER NOT NULL,
          revoked_at_ms INTEGER,
          PRIMARY KEY (participant_id, key_id)
        );`,
      postgres: `
        CREATE TABLE participants (
          participant_id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          kind INTEGER NOT NULL,
          status INTEGER NOT NULL,
          currencies TEXT NOT NULL,
          version BIGINT NOT NULL,
          created_at_ms BIGINT NOT NULL,
          updated_at_ms BIGINT NOT NULL
        );
        CREATE TABLE participant_keys (
          participant_id TEXT NOT NULL REFERENCES participants(participant_id),
          key_id TEXT NOT NULL,
          public_key BYTEA NOT NULL,
          status INTEGER NOT NULL,
          created_at_ms BIGINT NOT NULL,
          revoked_at_ms BIGINT,
          PRIMARY KEY (participant_id, key_id)
        );`,
    },
  },
  {
    id: "clearing-0002-engine",
    sql: {
      sqlite: engineTables("BLOB"),
      postgres: engineTables("BYTEA"),
    },
  },
];

/** The engine's tables; the same SQL on both engines but for the bytes type. */
function engineTables(bytes: string): string {
  return `
    CREATE TABLE accounts (
      participant_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      settlement_balance_minor BIGINT NOT NULL,
      net_debit_cap_minor BIGINT NOT NULL CHECK (net_debit_cap_minor >= 0),
      position_minor BIGINT NOT NULL,
      reserved_minor BIGINT NOT NULL CHECK (reserved_minor >= 0),
      above_threshold INTEGER NOT NULL,
      PRIMARY KEY (participant_id, currency)
    );
    CREATE TABLE transfers (
      transfer_id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      payer_id TEXT NOT NULL,
      payee_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
      prepared_amount_minor BIGINT NOT NULL CHECK (prepared_amount_minor > 0),
      fee_minor BIGINT NOT NULL CHECK (fee_minor >= 0),
      payee_currency TEXT NOT NULL,
      payee_amount_minor BIGINT NOT NULL,
      fx_provider_id TEXT NOT NULL,
      rate TEXT NOT NULL,
      quote_id TEXT NOT NULL,
      payer_reference TEXT NOT NULL,
      payee_reference TEXT NOT NULL,
      condition_hex TEXT NOT NULL,
      state INTEGER NOT NULL,
      window_id TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL,
      expires_at_ms BIGINT,
      completed_at_ms BIGINT
    );
    CREATE INDEX transfers_payer ON transfers (payer_id, created_at_ms);
    CREATE INDEX transfers_payee ON transfers (payee_id, created_at_ms);
    CREATE INDEX transfers_window ON transfers (window_id);
    CREATE INDEX transfers_quote ON transfers (quote_id);
    CREATE TABLE transfer_failures (
      transfer_id TEXT PRIMARY KEY,
      terms TEXT NOT NULL,
      reason TEXT NOT NULL,
      message TEXT NOT NULL,
      field TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE TABLE windows (
      window_id TEXT PRIMARY KEY,
      sequence BIGINT NOT NULL UNIQUE,
      state INTEGER NOT NULL,
      opened_at_ms BIGINT NOT NULL,
      closed_at_ms BIGINT,
      settled_at_ms BIGINT,
      transfer_count BIGINT NOT NULL,
      attempt INTEGER NOT NULL,
      failure_reason TEXT NOT NULL,
      failed_instruction_ids TEXT NOT NULL
    );
    CREATE TABLE window_nets (
      window_id TEXT NOT NULL,
      participant_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      net_minor BIGINT NOT NULL,
      PRIMARY KEY (window_id, participant_id, currency)
    );
    CREATE TABLE settlement_instructions (
      instruction_id TEXT PRIMARY KEY,
      window_id TEXT NOT NULL,
      participant_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      net_minor BIGINT NOT NULL
    );
    CREATE TABLE requests (
      method TEXT NOT NULL,
      request_id TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      response ${bytes} NOT NULL,
      reason TEXT NOT NULL,
      message TEXT NOT NULL,
      field TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL,
      PRIMARY KEY (method, request_id)
    );
    CREATE TABLE settlement_inbox (
      event_id TEXT PRIMARY KEY,
      outcome TEXT NOT NULL,
      window_id TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      instruction_ids TEXT NOT NULL,
      reason TEXT NOT NULL,
      received_at_ms BIGINT NOT NULL
    );
    CREATE TABLE parties (
      alias TEXT PRIMARY KEY,
      participant_id TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE TABLE fx_rates (
      fx_provider_id TEXT NOT NULL,
      source_currency TEXT NOT NULL,
      target_currency TEXT NOT NULL,
      rate TEXT NOT NULL,
      updated_at_ms BIGINT NOT NULL,
      PRIMARY KEY (fx_provider_id, source_currency, target_currency)
    );
    CREATE TABLE quotes (
      quote_id TEXT PRIMARY KEY,
      payer_id TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      quote ${bytes} NOT NULL,
      expires_at_ms BIGINT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );`;
}

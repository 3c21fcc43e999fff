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
    id: "clearing-0002-transfers",
    sql: `
      CREATE TABLE transfers (
        transfer_id TEXT PRIMARY KEY,
        payer_id TEXT NOT NULL,
        payee_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        fee_minor BIGINT NOT NULL CHECK (fee_minor >= 0),
        state INTEGER NOT NULL,
        window_id TEXT NOT NULL,
        quote_id TEXT NOT NULL,
        payer_reference TEXT NOT NULL,
        payee_reference TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        completed_at_ms BIGINT
      );
      CREATE INDEX transfers_payer ON transfers (payer_id, created_at_ms);
      CREATE INDEX transfers_payee ON transfers (payee_id, created_at_ms);`,
  },
];

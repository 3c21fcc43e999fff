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
  {
    // Customer accounts and their postings. The CHECKs restate the money invariants, so a bug
    // in a conditional update aborts its transaction instead of booking a negative balance.
    id: "bank-adapter-0002-accounts",
    sql: `
      CREATE TABLE bank_account_sequences (
        bank_id TEXT PRIMARY KEY,
        last_sequence BIGINT NOT NULL
      );
      CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        bank_id TEXT NOT NULL,
        request_id TEXT NOT NULL UNIQUE,
        opened_by TEXT NOT NULL,
        currency TEXT NOT NULL,
        account_number_sealed TEXT NOT NULL,
        masked_account_number TEXT NOT NULL,
        holder_name_sealed TEXT NOT NULL,
        holder_email_sealed TEXT NOT NULL,
        holder_phone_sealed TEXT NOT NULL,
        balance_minor BIGINT NOT NULL DEFAULT 0,
        held_minor BIGINT NOT NULL DEFAULT 0,
        posting_count BIGINT NOT NULL DEFAULT 0,
        last_booked_at_ms BIGINT NOT NULL DEFAULT 0,
        created_at_ms BIGINT NOT NULL,
        CHECK (balance_minor >= 0),
        CHECK (held_minor >= 0),
        CHECK (held_minor <= balance_minor)
      );
      CREATE TABLE postings (
        posting_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        sequence BIGINT NOT NULL,
        posting_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('CREDIT', 'DEBIT')),
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        balance_after_minor BIGINT NOT NULL CHECK (balance_after_minor >= 0),
        end_to_end_id TEXT NOT NULL,
        description TEXT NOT NULL,
        booked_at_ms BIGINT NOT NULL,
        UNIQUE (account_id, sequence)
      );
      CREATE TABLE suspense_postings (
        transfer_id TEXT PRIMARY KEY,
        bank_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL,
        reason TEXT NOT NULL,
        masked_payee_reference TEXT NOT NULL,
        booked_at_ms BIGINT NOT NULL
      );`,
  },
  {
    id: "bank-adapter-0003-mandates-and-pulls",
    sql: `
      CREATE TABLE mandates (
        mandate_id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        payee_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        per_transfer_limit_minor BIGINT NOT NULL CHECK (per_transfer_limit_minor > 0),
        daily_limit_minor BIGINT NOT NULL CHECK (daily_limit_minor > 0),
        state TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        code_salt TEXT NOT NULL,
        code_expires_at_ms BIGINT NOT NULL,
        code_attempts INTEGER NOT NULL DEFAULT 0,
        token_hash TEXT UNIQUE,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
      );
      CREATE TABLE mandate_daily_usage (
        mandate_id TEXT NOT NULL,
        usage_day TEXT NOT NULL,
        used_minor BIGINT NOT NULL CHECK (used_minor >= 0),
        PRIMARY KEY (mandate_id, usage_day)
      );
      CREATE TABLE pulls (
        pull_id TEXT PRIMARY KEY,
        mandate_id TEXT NOT NULL REFERENCES mandates (mandate_id),
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        bank_id TEXT NOT NULL,
        payee_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        payee_reference TEXT NOT NULL,
        usage_day TEXT NOT NULL,
        state TEXT NOT NULL,
        held_minor BIGINT NOT NULL CHECK (held_minor >= 0),
        failure_reason TEXT NOT NULL DEFAULT '',
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
      );
      CREATE INDEX pulls_pending ON pulls (state, updated_at_ms);`,
  },
  {
    id: "bank-adapter-0004-card-vault",
    sql: `
      CREATE TABLE cards (
        card_token TEXT PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        bank_id TEXT NOT NULL,
        pan_sealed TEXT NOT NULL,
        masked_pan TEXT NOT NULL,
        expiry_month INTEGER NOT NULL,
        expiry_year INTEGER NOT NULL,
        cardholder_name_sealed TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL
      );
      CREATE TABLE authorizations (
        authorization_id TEXT PRIMARY KEY,
        card_token TEXT NOT NULL REFERENCES cards (card_token),
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        bank_id TEXT NOT NULL,
        acquirer_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        merchant_reference TEXT NOT NULL,
        requested_expires_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT NOT NULL,
        state TEXT NOT NULL,
        held_minor BIGINT NOT NULL CHECK (held_minor >= 0),
        captured_minor BIGINT NOT NULL DEFAULT 0,
        refunded_minor BIGINT NOT NULL DEFAULT 0,
        refusal_reason TEXT NOT NULL DEFAULT '',
        refusal_message TEXT NOT NULL DEFAULT '',
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL,
        CHECK (captured_minor >= 0 AND captured_minor <= amount_minor),
        CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor)
      );
      CREATE INDEX authorizations_open ON authorizations (state, expires_at_ms);
      CREATE TABLE refunds (
        transfer_id TEXT PRIMARY KEY,
        refund_id TEXT UNIQUE,
        authorization_id TEXT NOT NULL REFERENCES authorizations (authorization_id),
        amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
        created_at_ms BIGINT NOT NULL
      );`,
  },
  {
    // A suspense posting booked to an account (ResolveSuspensePosting) keeps its row, resolved;
    // postings name who paid them (empty for those kept before this migration).
    id: "bank-adapter-0005-suspense-resolution",
    sql: `
      ALTER TABLE suspense_postings ADD COLUMN resolved_account_id TEXT NOT NULL DEFAULT '';
      ALTER TABLE suspense_postings ADD COLUMN resolved_at_ms BIGINT;
      ALTER TABLE suspense_postings ADD COLUMN payer_id TEXT NOT NULL DEFAULT '';
      CREATE INDEX suspense_postings_by_bank ON suspense_postings (bank_id, transfer_id);`,
  },
];

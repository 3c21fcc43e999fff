// The wallet's tables. Money and times are int64 (bigint in code); ids are text. Personal data
// exists only sealed (users.*_sealed under the user's key, user_keys under DATA_KEYS) or as keyed
// hashes (users.email_hash, users.phone_hash).
import type { Migration } from "@clearmesh/store";

function walletTables(): string {
  return `
    CREATE TABLE users (
      user_id TEXT PRIMARY KEY,
      provider_id TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('active', 'erased')),
      email_hash TEXT,
      phone_hash TEXT,
      email_sealed TEXT,
      phone_sealed TEXT,
      display_name_sealed TEXT,
      password_hash TEXT NOT NULL,
      totp_secret_sealed TEXT,
      totp_pending_sealed TEXT,
      totp_enabled INTEGER NOT NULL DEFAULT 0,
      totp_last_step BIGINT NOT NULL DEFAULT 0,
      failed_attempts INTEGER NOT NULL DEFAULT 0,
      locked_until_ms BIGINT NOT NULL DEFAULT 0,
      created_at_ms BIGINT NOT NULL,
      erased_at_ms BIGINT
    );
    CREATE UNIQUE INDEX users_email ON users (provider_id, email_hash);
    CREATE UNIQUE INDEX users_phone ON users (provider_id, phone_hash);
    CREATE TABLE user_keys (
      user_id TEXT PRIMARY KEY,
      sealed_key TEXT NOT NULL
    );
    CREATE TABLE sessions (
      token_hash TEXT PRIMARY KEY,
      user_id TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL,
      expires_at_ms BIGINT NOT NULL,
      revoked_at_ms BIGINT
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE TABLE accounts (
      account_id TEXT PRIMARY KEY,
      provider_id TEXT NOT NULL,
      kind TEXT NOT NULL CHECK (kind IN ('user', 'clearing', 'suspense')),
      user_id TEXT,
      currency TEXT NOT NULL,
      balance_minor BIGINT NOT NULL,
      held_minor BIGINT NOT NULL DEFAULT 0,
      CHECK (held_minor >= 0),
      CHECK (kind = 'clearing' OR balance_minor >= held_minor)
    );
    CREATE INDEX accounts_user ON accounts (user_id);
    CREATE INDEX accounts_provider ON accounts (provider_id, currency);
    CREATE TABLE movements (
      movement_id TEXT PRIMARY KEY,
      provider_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'failed')),
      currency TEXT NOT NULL,
      amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
      fee_minor BIGINT NOT NULL DEFAULT 0,
      counterparty_sealed TEXT,
      counterparty_provider_id TEXT NOT NULL DEFAULT '',
      request_id TEXT,
      fingerprint TEXT,
      transfer_id TEXT,
      quote_id TEXT,
      failure_reason TEXT NOT NULL DEFAULT '',
      failure_message TEXT NOT NULL DEFAULT '',
      created_at_ms BIGINT NOT NULL,
      completed_at_ms BIGINT,
      next_check_at_ms BIGINT NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX movements_request ON movements (user_id, request_id);
    CREATE UNIQUE INDEX movements_transfer ON movements (transfer_id, kind);
    CREATE INDEX movements_user_created ON movements (user_id, created_at_ms, movement_id);
    CREATE INDEX movements_pending ON movements (state, next_check_at_ms);
    CREATE TABLE entries (
      entry_id TEXT PRIMARY KEY,
      movement_id TEXT NOT NULL,
      account_id TEXT NOT NULL,
      amount_minor BIGINT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE INDEX entries_account ON entries (account_id);
    CREATE TABLE suspense_items (
      transfer_id TEXT PRIMARY KEY,
      provider_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      amount_minor BIGINT NOT NULL,
      reason TEXT NOT NULL,
      masked_reference TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE TABLE alias_registrations (
      user_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('pending', 'registered', 'taken', 'refused')),
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at_ms BIGINT NOT NULL,
      last_error TEXT NOT NULL DEFAULT '',
      PRIMARY KEY (user_id, kind)
    );
    CREATE INDEX alias_registrations_due ON alias_registrations (state, next_attempt_at_ms);
    CREATE TABLE wallet_quotes (
      quote_id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL,
      payee_provider_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      amount_minor BIGINT NOT NULL,
      fee_minor BIGINT NOT NULL,
      expires_at_ms BIGINT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE TABLE notification_preferences (
      user_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      channels TEXT NOT NULL,
      PRIMARY KEY (user_id, kind)
    );`;
}

/**
 * Linked bank accounts; the outside reference of a movement (the paid intent, the link), and the
 * name of a counterparty that is no person (a merchant id), for notifications.
 */
function bankTables(): string {
  return `
    CREATE TABLE bank_links (
      link_id TEXT PRIMARY KEY,
      user_id TEXT NOT NULL,
      provider_id TEXT NOT NULL,
      bank_id TEXT NOT NULL,
      request_id TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      state TEXT NOT NULL CHECK (state IN ('requested', 'pending_confirmation', 'active', 'failed')),
      currency TEXT NOT NULL,
      account_sealed TEXT,
      masked_number_sealed TEXT,
      mandate_id TEXT NOT NULL DEFAULT '',
      token_sealed TEXT,
      code_expires_at_ms BIGINT NOT NULL DEFAULT 0,
      failure_reason TEXT NOT NULL DEFAULT '',
      created_at_ms BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX bank_links_request ON bank_links (user_id, request_id);
    ALTER TABLE movements ADD COLUMN reference TEXT;
    ALTER TABLE movements ADD COLUMN counterparty_name TEXT NOT NULL DEFAULT '';
    CREATE UNIQUE INDEX movements_paid_intent ON movements (provider_id, reference) WHERE kind = 'payment' AND state <> 'failed';`;
}

/**
 * The merchant's reference of a paid intent (its order number), kept with the payment so the
 * `payment.succeeded` notification names it whoever books the payment: the call, clearing's
 * committed event or the reconciler.
 */
function merchantReferences(): string {
  return "ALTER TABLE movements ADD COLUMN merchant_reference TEXT NOT NULL DEFAULT ''";
}

export const walletMigrations: readonly Migration[] = [
  { id: "wallet-0001-users-books", sql: walletTables() },
  { id: "wallet-0002-bank-links-payments", sql: bankTables() },
  { id: "wallet-0003-merchant-references", sql: merchantReferences() },
];

// The connector's tables. Money and times are int64 (bigint in code); ids are text; states are
// the proto enum numbers. The same SQL runs on SQLite and PostgreSQL but for the bytes type.
import type { Migration } from "@clearmesh/store";

export const commerceMigrations: readonly Migration[] = [
  {
    id: "commerce-0001-merchants-intents-refunds-webhooks",
    sql: { sqlite: tables("BLOB"), postgres: tables("BYTEA") },
  },
];

function tables(bytes: string): string {
  return `
    CREATE TABLE merchants (
      merchant_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      webhook_url TEXT NOT NULL,
      key_id TEXT NOT NULL,
      public_key ${bytes} NOT NULL,
      acquirer_id TEXT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE INDEX merchants_created ON merchants (created_at_ms);

    -- One row per payment intent. Every state change is a conditional UPDATE … WHERE state = $expected.
    -- step: what a PROCESSING intent is doing ('confirm' or 'capture'), for the sweeper.
    -- followup: what is still owed to the bank or clearing after the state was decided
    -- ('bank_capture', 'bank_void', 'clearing_abort'), retried by the sweeper.
    -- touched_at_ms: the last state change or sweeper claim (the sweeper's clock).
    CREATE TABLE payment_intents (
      payment_intent_id TEXT PRIMARY KEY,
      merchant_id TEXT NOT NULL,
      acquirer_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      amount_minor BIGINT NOT NULL,
      state INTEGER NOT NULL,
      capture_method INTEGER NOT NULL,
      merchant_reference TEXT NOT NULL,
      description TEXT NOT NULL,
      metadata TEXT NOT NULL,
      payment_method_type TEXT NOT NULL,
      payment_method_detail TEXT NOT NULL,
      payment_method_key TEXT NOT NULL,
      payer_id TEXT NOT NULL,
      payer_reference TEXT NOT NULL,
      transfer_id TEXT NOT NULL,
      captured_minor BIGINT NOT NULL,
      refunded_minor BIGINT NOT NULL,
      capture_minor BIGINT NOT NULL,
      step TEXT NOT NULL,
      failure_reason TEXT NOT NULL,
      followup TEXT NOT NULL,
      followup_attempts INTEGER NOT NULL,
      created_at_ms BIGINT NOT NULL,
      updated_at_ms BIGINT NOT NULL,
      touched_at_ms BIGINT NOT NULL,
      CHECK (refunded_minor >= 0 AND refunded_minor <= captured_minor AND captured_minor <= amount_minor)
    );
    CREATE INDEX payment_intents_merchant ON payment_intents (merchant_id, created_at_ms, payment_intent_id);
    CREATE INDEX payment_intents_state ON payment_intents (state, touched_at_ms);
    CREATE INDEX payment_intents_followup ON payment_intents (followup, followup_attempts);

    CREATE TABLE refunds (
      refund_id TEXT PRIMARY KEY,
      payment_intent_id TEXT NOT NULL REFERENCES payment_intents (payment_intent_id),
      merchant_id TEXT NOT NULL,
      currency TEXT NOT NULL,
      amount_minor BIGINT NOT NULL,
      requested_minor BIGINT NOT NULL,
      reason TEXT NOT NULL,
      state INTEGER NOT NULL,
      transfer_id TEXT NOT NULL,
      failure_reason TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      created_at_ms BIGINT NOT NULL,
      updated_at_ms BIGINT NOT NULL,
      touched_at_ms BIGINT NOT NULL
    );
    CREATE INDEX refunds_state ON refunds (state, touched_at_ms);

    -- The webhook outbox: written in the same transaction as the change it reports.
    CREATE TABLE webhook_deliveries (
      webhook_id TEXT PRIMARY KEY,
      merchant_id TEXT NOT NULL,
      type TEXT NOT NULL,
      payment_intent_id TEXT NOT NULL,
      body ${bytes} NOT NULL,
      state INTEGER NOT NULL,
      attempt_count INTEGER NOT NULL,
      round_attempts INTEGER NOT NULL,
      next_attempt_at_ms BIGINT NOT NULL,
      lease_owner TEXT NOT NULL,
      lease_until_ms BIGINT NOT NULL,
      created_at_ms BIGINT NOT NULL
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at_ms);
    CREATE INDEX webhook_deliveries_merchant ON webhook_deliveries (merchant_id, webhook_id);

    CREATE TABLE webhook_attempts (
      webhook_id TEXT NOT NULL REFERENCES webhook_deliveries (webhook_id),
      attempt INTEGER NOT NULL,
      attempted_at_ms BIGINT NOT NULL,
      http_status INTEGER NOT NULL,
      error TEXT NOT NULL,
      duration_ms BIGINT NOT NULL,
      PRIMARY KEY (webhook_id, attempt)
    );`;
}

// The notifier's tables. Times are epoch milliseconds (BIGINT); the same SQL runs on SQLite and
// PostgreSQL except for the sequence column. Nothing here holds an address or a code in clear:
// sealed_parameters keeps them sealed (NOTIFY_DATA_KEYS), recipient_hint is masked, and
// recipient_key is a keyed hash (recipients.ts).
import type { Migration } from "@clearmesh/store";

const deliveriesColumns = `
  notification_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  producer TEXT NOT NULL,
  kind TEXT NOT NULL,
  recipient_hint TEXT NOT NULL,
  recipient_key TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  round_start_attempts INTEGER NOT NULL,
  rate_exempt INTEGER NOT NULL,
  next_attempt_at_ms BIGINT,
  last_attempt_at_ms BIGINT,
  last_error TEXT,
  lease_token TEXT,
  lease_until_ms BIGINT,
  retry_request_id TEXT,
  created_at_ms BIGINT NOT NULL,
  delivered_at_ms BIGINT,
  UNIQUE (notification_id, channel)`;

const shared = `
  CREATE TABLE notifications (
    notification_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    producer TEXT NOT NULL,
    kind TEXT NOT NULL,
    locale TEXT NOT NULL,
    parameters TEXT NOT NULL,
    sealed_parameters TEXT NOT NULL,
    recipient_hint TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
  );
  CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at_ms);
  CREATE INDEX deliveries_hint ON deliveries (recipient_hint, seq);
  CREATE INDEX deliveries_recipient ON deliveries (recipient_key, seq);
  CREATE INDEX deliveries_producer ON deliveries (producer, seq);
  CREATE TABLE recipient_rate (recipient_key TEXT PRIMARY KEY, reservations BIGINT NOT NULL);
  CREATE TABLE recipient_sends (
    recipient_key TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    sent_at_ms BIGINT NOT NULL,
    PRIMARY KEY (recipient_key, notification_id)
  );`;

export const notifierMigrations: readonly Migration[] = [
  {
    id: "notifier-0001-deliveries",
    sql: {
      sqlite: `CREATE TABLE deliveries (seq INTEGER PRIMARY KEY AUTOINCREMENT, ${deliveriesColumns});${shared}`,
      postgres: `CREATE TABLE deliveries (seq BIGSERIAL PRIMARY KEY, ${deliveriesColumns});${shared}`,
    },
  },
];

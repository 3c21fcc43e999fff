export { Sleeper, backoffDelayMs } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export {
  NATS_CONNECT_TIMEOUT_MS,
  NATS_RECONNECT_WAIT_MS,
  NatsUnavailableError,
  connectNats,
} from "./connection.js";
export type { ConnectNatsOptions } from "./connection.js";
export {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_CONSUMER_BATCH,
  DEFAULT_MAX_ACK_PENDING,
  DEFAULT_MAX_DELIVER,
  DEFAULT_NAK_BACKOFF,
  busMigrations,
  startConsumer,
} from "./consumer.js";
export type { EventHandler, RunningConsumer, StartConsumerOptions } from "./consumer.js";
export {
  EventTypeMismatchError,
  InvalidEventReason,
  buildEnvelope,
  decodePayload,
  publishEnvelope,
  verifyEnvelope,
} from "./envelope.js";
export type { BuildEnvelopeInput, BuiltEnvelope, KeyLookup, VerifiedEvent, VerifyResult } from "./envelope.js";
export { silentLogger } from "./logger.js";
export type { BusLogger } from "./logger.js";
export {
  DEFAULT_OUTBOX_BACKOFF,
  DEFAULT_OUTBOX_BATCH_SIZE,
  DEFAULT_OUTBOX_POLL_INTERVAL_MS,
  DEFAULT_OUTBOX_PUBLISH_TIMEOUT_MS,
  MAX_OUTBOX_BATCH_SIZE,
  enqueueEvent,
  enqueueEvents,
  outboxInserts,
  outboxMigrations,
  startOutboxRelay,
} from "./outbox.js";
export type { OutboxEvent, OutboxLag, OutboxRelay, OutboxRelayOptions } from "./outbox.js";
export {
  CLEARMESH_STREAMS,
  STREAM_DUPLICATE_WINDOW_MS,
  STREAM_MAX_AGE_MS,
  STREAM_MAX_BYTES,
  StreamReplicasError,
  clearmeshStreams,
  ensureClearmeshStreams,
  ensureConsumer,
  ensureStreams,
  streamName,
} from "./streams.js";
export type { DurableConsumerDefinition, EnsureReport, StreamDefinition, StreamOptions } from "./streams.js";
export { startNatsCluster, startNatsServer } from "./testing.js";
export type { NatsServerOptions, TestNatsServer } from "./testing.js";
export { createUlidGenerator, isUlid, newUlid } from "./ulid.js";
export type { UlidGenerator } from "./ulid.js";

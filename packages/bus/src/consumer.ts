import type { Migration, Store, Transaction } from "@clearmesh/store";
import type { ConsumerMessages, JsMsg, NatsConnection } from "nats";
import type { BackoffOptions } from "./backoff.js";
import { Sleeper, backoffDelayMs } from "./backoff.js";
import type { InvalidEventReason, KeyLookup, VerifiedEvent } from "./envelope.js";
import { verifyEnvelope } from "./envelope.js";
import type { BusLogger } from "./logger.js";
import { errorText, silentLogger } from "./logger.js";
import { ensureConsumer } from "./streams.js";

/**
 * Deliveries per message; -1 = forever, so the bus never drops a money event. A handler that
 * keeps failing is retried every DEFAULT_NAK_BACKOFF.maxMs and logged each time.
 */
export const DEFAULT_MAX_DELIVER = -1;
/** Redelivery after this long without an ack (a crashed or stuck consumer). */
export const DEFAULT_ACK_WAIT_MS = 30_000;
/** Messages pulled ahead of the handler. */
export const DEFAULT_CONSUMER_BATCH = 64;
/** Delivered but unacknowledged messages JetStream allows this consumer. */
export const DEFAULT_MAX_ACK_PENDING = 1_000;
/** Delay before a failed event is offered again, growing per delivery. */
export const DEFAULT_NAK_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000 };
/** Pause before re-opening a message stream that ended on its own (consumer deleted, etc.). */
const RESUBSCRIBE_DELAY_MS = 1_000;

/** Tables the consumer needs; add them to the service's own migrations. */
export const busMigrations: readonly Migration[] = [
  {
    id: "bus-001-processed-events",
    sql: {
      sqlite:
        "CREATE TABLE processed_events (consumer TEXT NOT NULL, event_id TEXT NOT NULL, processed_at_ms INTEGER NOT NULL, PRIMARY KEY (consumer, event_id))",
      postgres:
        "CREATE TABLE processed_events (consumer TEXT NOT NULL, event_id TEXT NOT NULL, processed_at_ms BIGINT NOT NULL, PRIMARY KEY (consumer, event_id))",
    },
  },
];

export type EventHandler = (event: VerifiedEvent, tx: Transaction) => Promise<void>;

export interface StartConsumerOptions {
  nc: NatsConnection;
  stream: string;
  /** Durable name; also the `consumer` key of processed_events. */
  durable: string;
  /** Subjects this consumer takes from the stream (empty: all). */
  filterSubjects: string[];
  keyLookup: KeyLookup;
  store: Store;
  handler: EventHandler;
  maxDeliver?: number;
  ackWaitMs?: number;
  /** Messages pulled ahead of the handler. */
  batch?: number;
  /**
   * Messages handled at once (default 1: each message's transaction commits before the next
   * starts). With more, the next buffered messages' transactions are submitted while earlier
   * ones commit, still in stream order, so a store that runs transactions one after another in
   * submission order applies them in stream order and a group-committing store
   * (groupCommitting) shares one commit among them; each message is acked once its own
   * transaction committed. On SQLite only: on PostgreSQL transactions run side by side on the
   * pool, so there the consumer keeps to one message at a time whatever this says. Handlers must
   * then not depend on the previous message's commit being durable before they run.
   */
  pipeline?: number;
  /**
   * Delivered, unacknowledged messages allowed. A redelivered event (after a nak or a lost
   * ack) comes after later ones; a consumer that needs strict stream order sets 1.
   */
  maxAckPending?: number;
  nakBackoff?: BackoffOptions;
  logger?: BusLogger;
  /** An envelope failed decoding or verification and was terminated. */
  onInvalid?: (reason: InvalidEventReason) => void;
  /** The handler's transaction committed. */
  onProcessed?: (event: VerifiedEvent, durationMs: number) => void;
  /** The event id was already processed by this consumer; acked without calling the handler. */
  onDuplicate?: (event: VerifiedEvent) => void;
  /** The handler (or its transaction) failed; the event will be delivered again. */
  onRedelivery?: (event: VerifiedEvent, error: unknown) => void;
}

export interface RunningConsumer {
  /** Stops pulling, waits for the messages being handled, and returns. */
  stop(): Promise<void>;
}

type Outcome = "processed" | "duplicate";

interface ConsumerContext extends StartConsumerOptions {
  logger: BusLogger;
  nakBackoff: BackoffOptions;
}

/**
 * Declares the durable consumer and handles its messages in stream order: verify, then record
 * the event id and run the handler in one store transaction, ack after it commits. One message at
 * a time, or on SQLite up to `pipeline` whose transactions are submitted in stream order.
 */
export async function startConsumer(options: StartConsumerOptions): Promise<RunningConsumer> {
  const context: ConsumerContext = {
    ...options,
    logger: options.logger ?? silentLogger,
    nakBackoff: options.nakBackoff ?? DEFAULT_NAK_BACKOFF,
  };
  await ensureConsumer(options.nc, {
    stream: options.stream,
    durable: options.durable,
    filterSubjects: options.filterSubjects,
    maxDeliver: options.maxDeliver ?? DEFAULT_MAX_DELIVER,
    ackWaitMs: options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    maxAckPending: options.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
  });
  const js = options.nc.jetstream();
  const consumer = await js.consumers.get(options.stream, options.durable);
  const batch = options.batch ?? DEFAULT_CONSUMER_BATCH;
  const pipeline = options.store.dialect === "sqlite" ? Math.max(1, Math.floor(options.pipeline ?? 1)) : 1;
  let stopping = false;
  let messages: ConsumerMessages | undefined;
  /** Messages being handled (pipeline > 1). */
  const inFlight = new Set<Promise<void>>();
  const sleeper = new Sleeper();

  async function run(): Promise<void> {
    while (!stopping) {
      try {
        messages = await consumer.consume({ max_messages: batch });
        if (stopping) break;
        for await (const msg of messages) {
          // Messages pulled before stop() go back at once instead of after ack_wait.
          if (stopping) msg.nak();
          else if (pipeline === 1) await handleMessage(context, msg);
          else {
            // Submitted now, in stream order; at most `pipeline` unsettled.
            const handled: Promise<void> = handleMessage(context, msg)
              .catch((error: unknown) => context.logger.error({ durable: options.durable, error: errorText(error) }, "event handling failed"))
              .finally(() => inFlight.delete(handled));
            inFlight.add(handled);
            if (inFlight.size >= pipeline) await Promise.race(inFlight);
          }
        }
      } catch (error) {
        context.logger.error({ durable: options.durable, error: errorText(error) }, "event consumer failed");
      }
      // Before pulling again or returning: what was started is acked (or nak'd) first.
      await Promise.all(inFlight);
      // A closed connection never comes back; the service is shutting down.
      if (options.nc.isClosed()) break;
      if (!stopping) await sleeper.sleep(RESUBSCRIBE_DELAY_MS);
    }
    await messages?.close();
  }

  const running = run();
  return {
    async stop() {
      stopping = true;
      sleeper.wake();
      await messages?.close();
      await running;
    },
  };
}

async function handleMessage(context: ConsumerContext, msg: JsMsg): Promise<void> {
  const verified = verifyEnvelope(msg.data, msg.subject, context.keyLookup);
  if (!verified.ok) {
    context.logger.warn(
      { durable: context.durable, subject: msg.subject, streamSequence: msg.seq, reason: verified.reason },
      "dropped an invalid event",
    );
    context.onInvalid?.(verified.reason);
    msg.term();
    return;
  }
  const event = verified.event;
  const startedAt = performance.now();
  let outcome: Outcome;
  try {
    outcome = await processOnce(context, event);
  } catch (error) {
    retryLater(context, msg, event, error);
    return;
  }
  msg.ack();
  if (outcome === "duplicate") context.onDuplicate?.(event);
  else context.onProcessed?.(event, performance.now() - startedAt);
}

/** Records the id and runs the handler in one transaction, so a crash can do neither or both. */
function processOnce(context: ConsumerContext, event: VerifiedEvent): Promise<Outcome> {
  return context.store.transaction(async (tx) => {
    const { changes } = await tx.execute(
      "INSERT INTO processed_events (consumer, event_id, processed_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
      [context.durable, event.id, BigInt(Date.now())],
    );
    if (changes === 0) return "duplicate";
    await context.handler(event, tx);
    return "processed";
  });
}

function retryLater(context: ConsumerContext, msg: JsMsg, event: VerifiedEvent, error: unknown): void {
  const deliveries = msg.info.redeliveryCount;
  const delayMs = backoffDelayMs(context.nakBackoff, deliveries - 1);
  const maxDeliver = context.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const last = maxDeliver > 0 && deliveries >= maxDeliver;
  context.logger[last ? "error" : "warn"](
    { durable: context.durable, eventId: event.id, type: event.type, deliveries, delayMs, error: errorText(error) },
    last ? "event handler failed on its last delivery; JetStream will not offer it again" : "event handler failed; will retry",
  );
  context.onRedelivery?.(event, error);
  msg.nak(delayMs);
}

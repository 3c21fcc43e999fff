// The notifier's durable consumers, one per subject (Debian's nats-server 2.9 takes one filter
// subject per consumer). Each event is verified (an active key of an allowed producer, from
// the directory) and processed at most once: its delivery rows and its processed_events row in
// one transaction, acked after the commit.
import { Sleeper, startConsumer, type EventHandler, type RunningConsumer, type StartConsumerOptions } from "@clearmesh/bus";
import { ClearingService } from "@clearmesh/contracts";
import type { Directory, Logger, ServiceMetrics, SignedClient } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { ALERT_SUBJECTS, NOTIFY_SUBJECTS } from "./events.js";
import { UnusableEventError } from "./requests.js";

/** Services whose notification requests the notifier accepts. */
export const NOTIFICATION_PRODUCERS: ReadonlySet<string> = new Set(["wallet", "e-commerce-connector", "bank-adapter", "clearing"]);
const CLEARING_ONLY: ReadonlySet<string> = new Set(["clearing"]);

export const NOTIFIER_CONSUMERS = {
  requests: { stream: "CLEARMESH_NOTIFY", durable: "notifier-requests", subject: NOTIFY_SUBJECTS.requested, producers: NOTIFICATION_PRODUCERS },
  thresholdAlerts: { stream: "CLEARMESH_CLEARING", durable: "notifier-threshold-alerts", subject: ALERT_SUBJECTS.thresholdCrossed, producers: CLEARING_ONLY },
  windowAlerts: { stream: "CLEARMESH_SETTLEMENT", durable: "notifier-window-alerts", subject: ALERT_SUBJECTS.windowFailed, producers: CLEARING_ONLY },
} as const;

/** Metric label of a verified event whose payload cannot be used (logged, skipped). */
export const INVALID_PAYLOAD = "INVALID_PAYLOAD";
const START_BACKOFF = { initialMs: 200, maxMs: 5_000 } as const;
const DIRECTORY_PAGE_SIZE = 500;
const DIRECTORY_MAX_PAGES = 1_000;

export interface ConsumerDeps {
  nc: StartConsumerOptions["nc"];
  store: Store;
  directory: Directory;
  clearing: SignedClient<typeof ClearingService>;
  metrics: ServiceMetrics;
  logger: Logger;
  /** After a commit: wake the dispatcher and the outbox relay. */
  onProcessed: () => void;
}

export interface ConsumerSpec {
  stream: string;
  durable: string;
  subject: string;
  producers: ReadonlySet<string>;
  handler: EventHandler;
}

export interface NotifierConsumers {
  /** Resolves once every consumer runs. */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the consumers after a full read of the directory from clearing, so no event of a
 * producer whose key this process has not loaded yet is dropped as UNKNOWN_KEY (a dropped event
 * is never offered again).
 */
export function startNotifierConsumers(deps: ConsumerDeps, specs: readonly ConsumerSpec[]): NotifierConsumers {
  const wakeup = new Sleeper();
  const running: RunningConsumer[] = [];
  let stopped = false;

  const retrying = async <T>(what: string, action: () => Promise<T>): Promise<T | undefined> => {
    for (let attempt = 0; !stopped; attempt += 1) {
      try {
        return await action();
      } catch (error) {
        const delayMs = Math.min(START_BACKOFF.maxMs, START_BACKOFF.initialMs * 2 ** attempt);
        deps.logger.warn({ what, err: (error as Error).message, delayMs }, "notifier start step failed; retrying");
        await wakeup.sleep(delayMs);
      }
    }
    return undefined;
  };

  const ready = (async () => {
    await retrying("directory read", () => readDirectory(deps));
    for (const spec of specs) {
      if (stopped) return;
      const consumer = await retrying(spec.durable, () => startConsumer(consumerOptions(deps, spec)));
      if (consumer) running.push(consumer);
    }
    if (!stopped) deps.logger.info({ consumers: running.length }, "notifier consuming");
  })();

  return {
    ready,
    async stop() {
      stopped = true;
      wakeup.wake();
      await ready.catch(() => undefined);
      for (const consumer of running.reverse()) await consumer.stop();
    },
  };
}

async function readDirectory(deps: ConsumerDeps): Promise<void> {
  let pageToken = "";
  for (let page = 0; page < DIRECTORY_MAX_PAGES; page += 1) {
    const response = await deps.clearing.listParticipants({ page: { pageSize: DIRECTORY_PAGE_SIZE, pageToken } });
    for (const participant of response.participants) deps.directory.apply(participant);
    pageToken = response.page?.nextPageToken ?? "";
    if (!pageToken) return;
  }
}

function consumerOptions(deps: ConsumerDeps, spec: ConsumerSpec): StartConsumerOptions {
  return {
    nc: deps.nc,
    store: deps.store,
    logger: deps.logger,
    stream: spec.stream,
    durable: spec.durable,
    filterSubjects: [spec.subject],
    keyLookup: (producer, keyId) => (spec.producers.has(producer) ? deps.directory.activePublicKey(producer, keyId) : undefined),
    onInvalid: (reason) => deps.metrics.invalidEvents.inc({ consumer: spec.durable, reason }),
    onRedelivery: () => deps.metrics.eventRedeliveries.inc({ consumer: spec.durable }),
    onProcessed: () => deps.onProcessed(),
    handler: async (event, tx) => {
      try {
        await spec.handler(event, tx);
      } catch (error) {
        if (!(error instanceof UnusableEventError)) throw error;
        // Signed by an allowed producer but unusable: recorded as processed, never retried.
        deps.metrics.invalidEvents.inc({ consumer: spec.durable, reason: INVALID_PAYLOAD });
        deps.logger.error({ durable: spec.durable, eventId: event.id, producer: event.producer, type: event.type, problem: error.message }, "skipped an event whose payload cannot be used");
      }
    },
  };
}

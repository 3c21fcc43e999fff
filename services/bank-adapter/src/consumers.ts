// Durable consumers of clearing's events, shared by the settlement bank and the bank's transfer
// consumers: each event verified (producer `clearing`, an active key of clearing's in the
// directory) and processed at most once, its effect and its processed_events row in one
// transaction, acked after commit.
//
// They start once the directory holds clearing's own record, so an event signed by a key
// clearing added since this service's configuration was written is verified rather than dropped
// as UNKNOWN_KEY (a dropped event is never offered again).
import { startConsumer, type OutboxRelay, type RunningConsumer, type StartConsumerOptions } from "@clearmesh/bus";
import type { Directory, Logger, ServiceMetrics } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";

/** The only producer whose events the bank adapter acts on. */
export const CLEARING_PRODUCER = "clearing";
/** Retry delays while a consumer cannot be declared (NATS busy or away at boot). */
const CONSUMER_START_BACKOFF = { initialMs: 200, maxMs: 5_000 } as const;

export interface ClearingConsumerDeps {
  nc: StartConsumerOptions["nc"];
  store: Store;
  directory: Directory;
  outbox: Pick<OutboxRelay, "notify">;
  metrics: ServiceMetrics;
  logger: Logger;
}

export interface RunningConsumers {
  /** Resolves once every consumer runs (after clearing's directory record is loaded). */
  readonly ready: Promise<void>;
  /** Stops the consumers, waiting for the event in hand. */
  stop(): Promise<void>;
}

/** The options every clearing consumer shares: who may sign, metrics, and waking the outbox after commit. */
export function clearingConsumerOptions(deps: ClearingConsumerDeps, durable: string) {
  return {
    nc: deps.nc,
    store: deps.store,
    logger: deps.logger,
    keyLookup: (producer: string, keyId: string) => (producer === CLEARING_PRODUCER ? deps.directory.activePublicKey(producer, keyId) : undefined),
    onInvalid: (reason: string) => deps.metrics.invalidEvents.inc({ consumer: durable, reason }),
    onRedelivery: () => deps.metrics.eventRedeliveries.inc({ consumer: durable }),
    onProcessed: () => deps.outbox.notify(),
  };
}

export function startClearingConsumers(deps: ClearingConsumerDeps, consumers: readonly StartConsumerOptions[], name: string): RunningConsumers {
  let stopped = false;
  let signalStop!: () => void;
  const stopSignal = new Promise<void>((resolve) => { signalStop = resolve; });
  const running: RunningConsumer[] = [];

  const pause = (ms: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); }), stopSignal]).finally(() => clearTimeout(timer));
  };

  const startWithRetry = async (options: StartConsumerOptions): Promise<void> => {
    for (let attempt = 0; !stopped; attempt += 1) {
      try {
        running.push(await startConsumer(options));
        return;
      } catch (error) {
        const delayMs = Math.min(CONSUMER_START_BACKOFF.maxMs, CONSUMER_START_BACKOFF.initialMs * 2 ** attempt);
        deps.logger.warn({ durable: options.durable, err: (error as Error).message, delayMs }, "could not start the consumer; retrying");
        await pause(delayMs);
      }
    }
  };

  const ready = (async () => {
    await Promise.race([whenParticipantKnown(deps.directory, CLEARING_PRODUCER, stopSignal), stopSignal]);
    for (const options of consumers) {
      if (stopped) return;
      await startWithRetry(options);
    }
    if (!stopped) deps.logger.info({ consumers: running.length }, `${name} consuming`);
  })();

  return {
    ready,
    async stop() {
      stopped = true;
      signalStop();
      await ready.catch(() => undefined);
      for (const consumer of running.reverse()) await consumer.stop();
    },
  };
}

function whenParticipantKnown(directory: Directory, participantId: string, stopSignal: Promise<void>): Promise<void> {
  if (directory.get(participantId) !== undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const unsubscribe = directory.onChange((participant) => {
      if (participant.participantId !== participantId) return;
      unsubscribe();
      resolve();
    });
    void stopSignal.then(() => {
      unsubscribe();
      resolve();
    });
  });
}

// Delivers the webhook outbox at least once. Each pass asks which merchants have due work,
// skipping merchants already at their concurrency, so a slow or failing merchant only ever
// occupies its own slots and never delays another merchant's deliveries. Every attempt is
// logged; after WEBHOOK_MAX_ATTEMPTS a webhook is DEAD_LETTERED and stops taking slots.
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { signWebhook, type SigningKey } from "@clearmesh/trust";
import { postWebhook, type WebhookPoster } from "./http.js";
import { claimDelivery, dueDeliveries, merchantsWithDueWork, recordAttempt, releaseDelivery, type DeliveryRecord } from "./repository.js";
import { stateAfterAttempt, type RetryPolicy } from "./schedule.js";

/** A lease outlives the attempt's timeout by this much, so a live attempt is never taken over. */
const LEASE_MARGIN_MS = 5_000;

/**
 * Leases and attempt records commit without waiting for the disk (two fsyncs per webhook were
 * most of the connector's commits under load). Both are safe to lose: a power failure before the
 * next durable commit can only undo the last of them, and then the webhook is sent again, which
 * at-least-once delivery allows (receivers dedupe by id). The webhook itself is written durably
 * with the change it reports.
 */
const NOT_AWAITING_DISK = { durable: false } as const;

export interface DispatcherDeps {
  store: Store;
  /** The connector's service identity: it signs every webhook (PROTOCOL.md §6). */
  identity: SigningKey;
  policy: RetryPolicy;
  timeoutMs: number;
  concurrencyPerMerchant: number;
  concurrency: number;
  pollMs: number;
  /** The merchant's webhook URL, or undefined for an unknown merchant. */
  webhookUrlOf: (merchantId: string) => Promise<string | undefined>;
  /** This instance's lease owner name. */
  owner: string;
  now: () => number;
  logger: Logger;
  post?: WebhookPoster;
  random?: () => number;
}

export interface WebhookDispatcher {
  /** Look for due work now (after a commit that wrote webhooks). */
  wake(): void;
  stop(): Promise<void>;
}

export function startWebhookDispatcher(deps: DispatcherDeps): WebhookDispatcher {
  const post = deps.post ?? postWebhook;
  const random = deps.random ?? Math.random;
  const inFlightByMerchant = new Map<string, number>();
  const running = new Set<Promise<void>>();
  const shutdown = new AbortController();
  const sleeper = new WakeableSleep();

  const inFlight = () => running.size;

  async function fill(): Promise<void> {
    const nowMs = deps.now();
    const free = deps.concurrency - inFlight();
    if (free <= 0) return;
    const busy = [...inFlightByMerchant].filter(([, count]) => count >= deps.concurrencyPerMerchant).map(([merchantId]) => merchantId);
    for (const merchantId of await merchantsWithDueWork(deps.store, nowMs, busy, free)) {
      const slots = Math.min(deps.concurrencyPerMerchant - (inFlightByMerchant.get(merchantId) ?? 0), deps.concurrency - inFlight());
      if (slots <= 0) continue;
      for (const webhookId of await dueDeliveries(deps.store, merchantId, nowMs, slots)) {
        if (shutdown.signal.aborted) return;
        const leaseUntilMs = nowMs + deps.timeoutMs + LEASE_MARGIN_MS;
        const delivery = await deps.store.transaction((tx) => claimDelivery(tx, webhookId, deps.owner, nowMs, leaseUntilMs), NOT_AWAITING_DISK);
        if (delivery) start(delivery);
      }
    }
  }

  function start(delivery: DeliveryRecord): void {
    const merchantId = delivery.merchantId;
    inFlightByMerchant.set(merchantId, (inFlightByMerchant.get(merchantId) ?? 0) + 1);
    const work = attempt(delivery)
      .catch((error: Error) => deps.logger.warn({ err: error.message, webhookId: delivery.webhookId }, "webhook attempt could not be recorded; its lease will lapse"))
      .finally(() => {
        const left = (inFlightByMerchant.get(merchantId) ?? 1) - 1;
        if (left === 0) inFlightByMerchant.delete(merchantId);
        else inFlightByMerchant.set(merchantId, left);
        running.delete(work);
        sleeper.wake();
      });
    running.add(work);
  }

  async function attempt(delivery: DeliveryRecord): Promise<void> {
    const url = await deps.webhookUrlOf(delivery.merchantId);
    const attemptedAtMs = deps.now();
    const headers = signWebhook(deps.identity, delivery.webhookId, attemptedAtMs, delivery.body);
    const result = url === undefined
      ? { httpStatus: 0, error: "merchant not found" }
      : await post(url, delivery.body, headers, deps.timeoutMs, shutdown.signal);
    if (shutdown.signal.aborted) {
      // Interrupted by shutdown: not the merchant's fault, so not counted; another pass sends it.
      await releaseDelivery(deps.store, delivery.webhookId, deps.owner);
      return;
    }
    const finishedAtMs = deps.now();
    const next = stateAfterAttempt(deps.policy, delivery.roundAttempts, result, finishedAtMs, random);
    const recorded = await deps.store.transaction((tx) => recordAttempt(tx, delivery, deps.owner, {
      attemptedAtMs, httpStatus: result.httpStatus, error: result.error, durationMs: finishedAtMs - attemptedAtMs, ...next,
    }), NOT_AWAITING_DISK);
    deps.logger.debug({ webhookId: delivery.webhookId, merchantId: delivery.merchantId, status: result.httpStatus, error: result.error, recorded }, "webhook attempt");
  }

  const loop = (async () => {
    while (!shutdown.signal.aborted) {
      try {
        await fill();
      } catch (error) {
        deps.logger.warn({ err: (error as Error).message }, "webhook dispatch pass failed; will retry");
      }
      await sleeper.sleep(deps.pollMs);
    }
  })();

  return {
    wake: () => sleeper.wake(),
    async stop() {
      shutdown.abort();
      sleeper.wake();
      await loop;
      await Promise.all([...running]);
    },
  };
}

/** A sleep that wake() cuts short; a wake while awake makes the next sleep return at once. */
class WakeableSleep {
  private pending = false;
  private wakeCurrent: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeCurrent = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeCurrent = done;
    });
  }

  wake(): void {
    if (this.wakeCurrent) this.wakeCurrent();
    else this.pending = true;
  }
}

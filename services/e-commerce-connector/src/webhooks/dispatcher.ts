// Delivers the webhook outbox at least once. A merchant never has more than
// WEBHOOK_CONCURRENCY_PER_MERCHANT attempts in flight (the instance WEBHOOK_CONCURRENCY), so a
// slow or failing merchant only ever occupies its own slots and never delays another
// merchant's deliveries. Every attempt is logged; after WEBHOOK_MAX_ATTEMPTS a webhook is
// DEAD_LETTERED and stops taking slots.
//
// Work reaches a slot three ways, each holding a lease (lease_owner, lease_until_ms) taken by a
// conditional write, so instances sharing the outbox never send the same attempt twice:
// - written leased: a change that writes a webhook while its merchant has a free slot here
//   takes the slot (reserve) and writes the webhook already leased to this instance, in the
//   change's own transaction; the attempt starts right after the commit (launch);
// - chained: when an attempt ends, its record and the lease of the merchant's next due webhook
//   commit together, and that attempt starts at once;
// - found: a pass over the outbox (every WEBHOOK_POLL_MS, and when woken) claims due webhooks of
//   merchants with free slots: retries that became due, webhooks written while the merchant's
//   slots were taken, other instances' lapsed leases.
import type { Logger } from "@clearmesh/runtime";
import { forwardingStore, GroupCommitter, type Store, type Transaction } from "@clearmesh/store";
import { signWebhook, type SigningKey } from "@clearmesh/trust";
import { createWebhookPoster, type WebhookPoster } from "./http.js";
import { claimDelivery, claimNextDue, dueDeliveries, merchantsWithDueWork, recordAttempt, releaseDelivery, type DeliveryRecord, type WrittenLease } from "./repository.js";
import { stateAfterAttempt, type RetryPolicy } from "./schedule.js";

/** A lease outlives the attempt's timeout by this much, so a live attempt is never taken over. */
const LEASE_MARGIN_MS = 5_000;
/** Lease and record writes that share one transaction. */
const BOOKKEEPING_BATCH = 64;

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

/** A slot taken for a webhook about to be written leased to this instance. */
export interface WebhookLease extends WrittenLease {
  merchantId: string;
}

/** What writers of webhooks tell the dispatcher (intents/changes.ts). */
export interface WebhookOutlet {
  /** Takes a slot of the merchant for a webhook about to be written; undefined when none is free. */
  reserve(merchantId: string): WebhookLease | undefined;
  /** The webhook written with `lease` committed: its attempt starts now. */
  launch(lease: WebhookLease, delivery: DeliveryRecord): void;
  /** The write with `lease` did not commit: the slot is free again. */
  release(lease: WebhookLease): void;
  /** Webhooks of the merchant were committed without a lease. */
  written(merchantId: string): void;
}

export interface WebhookDispatcher extends WebhookOutlet {
  /** Look for due work now (after a commit that wrote webhooks of merchants not named). */
  wake(): void;
  stop(): Promise<void>;
}

/**
 * Leases and attempt records commit without waiting for the disk, batched (attempts that end
 * together are recorded in one transaction). Both are safe to lose: a power failure before the
 * next durable commit can only undo the last of them, and then the webhook is sent again, which
 * at-least-once delivery allows (receivers dedupe by id). The webhook itself is written durably
 * with the change it reports.
 */
function withoutWaitingForDisk(store: Store): Store {
  return forwardingStore(store, { transaction: (fn, options) => store.transaction(fn, { ...options, durable: false }) });
}

export function startWebhookDispatcher(deps: DispatcherDeps): WebhookDispatcher {
  const pooled = deps.post ? undefined : createWebhookPoster();
  const post = deps.post ?? pooled!.post;
  const random = deps.random ?? Math.random;
  const bookkeeping = new GroupCommitter(withoutWaitingForDisk(deps.store), { maxBatchSize: BOOKKEEPING_BATCH });
  /** Slots taken per merchant: attempts in flight, reserved for a write, or claiming. */
  const slotsByMerchant = new Map<string, number>();
  let slotsTaken = 0;
  /** Merchants whose webhooks were committed unleased while their slots were taken. */
  const waiting = new Set<string>();
  /** A merchant was refused a slot by the instance-wide limit: look for work when one frees. */
  let deferred = false;
  const running = new Set<Promise<void>>();
  const shutdown = new AbortController();
  const sleeper = new WakeableSleep();
  const leaseUntil = (nowMs: number) => nowMs + deps.timeoutMs + LEASE_MARGIN_MS;

  function take(merchantId: string): boolean {
    if (shutdown.signal.aborted) return false;
    if (slotsTaken >= deps.concurrency) {
      deferred = true;
      return false;
    }
    const taken = slotsByMerchant.get(merchantId) ?? 0;
    if (taken >= deps.concurrencyPerMerchant) return false;
    slotsByMerchant.set(merchantId, taken + 1);
    slotsTaken += 1;
    return true;
  }

  function give(merchantId: string): void {
    const left = (slotsByMerchant.get(merchantId) ?? 1) - 1;
    if (left <= 0) slotsByMerchant.delete(merchantId);
    else slotsByMerchant.set(merchantId, left);
    slotsTaken -= 1;
    if (shutdown.signal.aborted) return;
    if (waiting.delete(merchantId)) pull(merchantId);
    if (deferred) {
      deferred = false;
      sleeper.wake();
    }
  }

  /** Claims the merchant's next due webhook into a free slot and starts it. */
  function pull(merchantId: string): void {
    if (!take(merchantId)) {
      // Its slots are taken: the attempt holding one chains to this work when it ends.
      if ((slotsByMerchant.get(merchantId) ?? 0) >= deps.concurrencyPerMerchant) waiting.add(merchantId);
      return;
    }
    const nowMs = deps.now();
    track(claimInto(merchantId, (tx) => claimNextDue(tx, merchantId, deps.owner, nowMs, leaseUntil(nowMs))));
  }

  /** Runs a claim for a slot taken for `merchantId`, then starts what it got (or gives the slot back). */
  async function claimInto(merchantId: string, claim: (tx: Transaction) => Promise<DeliveryRecord | undefined>): Promise<void> {
    let claimed: DeliveryRecord | undefined;
    try {
      claimed = await bookkeeping.submit(claim);
    } catch (error) {
      give(merchantId);
      throw error;
    }
    await continueWith(merchantId, claimed);
  }

  /** The slot of `merchantId` goes to `next`, or is given back. */
  async function continueWith(merchantId: string, next: DeliveryRecord | undefined): Promise<void> {
    if (next && !shutdown.signal.aborted) {
      track(attempt(next));
      return;
    }
    try {
      // Stopping: hand the lease back so the next instance need not wait for it to lapse.
      if (next) await releaseDelivery(deps.store, next.webhookId, deps.owner);
    } finally {
      give(merchantId);
    }
  }

  function track(work: Promise<void>): void {
    const tracked = work.catch((error: Error) => deps.logger.warn({ err: error.message }, "webhook bookkeeping failed; the lease will lapse"));
    running.add(tracked);
    void tracked.finally(() => running.delete(tracked));
  }

  /** One POST of a delivery this instance holds the lease of, in a slot taken for it. */
  async function attempt(delivery: DeliveryRecord): Promise<void> {
    const merchantId = delivery.merchantId;
    let next: DeliveryRecord | undefined;
    try {
      const url = await deps.webhookUrlOf(merchantId);
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
      const outcome = stateAfterAttempt(deps.policy, delivery.roundAttempts, result, finishedAtMs, random);
      // The record and the lease of the merchant's next due webhook commit together.
      const done = await bookkeeping.submit(async (tx) => {
        const recorded = await recordAttempt(tx, delivery, deps.owner, {
          attemptedAtMs, httpStatus: result.httpStatus, error: result.error, durationMs: finishedAtMs - attemptedAtMs, ...outcome,
        });
        return { recorded, next: await claimNextDue(tx, merchantId, deps.owner, finishedAtMs, leaseUntil(finishedAtMs)) };
      });
      next = done.next;
      deps.logger.debug({ webhookId: delivery.webhookId, merchantId, status: result.httpStatus, error: result.error, recorded: done.recorded }, "webhook attempt");
    } catch (error) {
      deps.logger.warn({ err: (error as Error).message, webhookId: delivery.webhookId }, "webhook attempt could not be recorded; its lease will lapse");
    }
    await continueWith(merchantId, next);
  }

  /** A pass over the outbox: due webhooks of merchants with free slots, claimed in one transaction. */
  async function fill(): Promise<void> {
    const nowMs = deps.now();
    const free = deps.concurrency - slotsTaken;
    if (free <= 0) return;
    const busy = [...slotsByMerchant].filter(([, count]) => count >= deps.concurrencyPerMerchant).map(([merchantId]) => merchantId);
    const claims: Array<Promise<void>> = [];
    for (const merchantId of await merchantsWithDueWork(deps.store, nowMs, busy, free)) {
      const slots = Math.min(deps.concurrencyPerMerchant - (slotsByMerchant.get(merchantId) ?? 0), deps.concurrency - slotsTaken);
      if (slots <= 0) continue;
      for (const webhookId of await dueDeliveries(deps.store, merchantId, nowMs, slots)) {
        if (!take(merchantId)) break;
        claims.push(claimInto(merchantId, (tx) => claimDelivery(tx, webhookId, deps.owner, nowMs, leaseUntil(nowMs))));
      }
    }
    for (const claim of claims) track(claim);
    await Promise.allSettled(claims);
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
    reserve(merchantId) {
      if (!take(merchantId)) return undefined;
      return { merchantId, owner: deps.owner, untilMs: leaseUntil(deps.now()) };
    },
    launch: (lease, delivery) => track(continueWith(lease.merchantId, delivery)),
    release: (lease) => give(lease.merchantId),
    written: (merchantId) => pull(merchantId),
    async stop() {
      shutdown.abort();
      sleeper.wake();
      await loop;
      while (running.size > 0) await Promise.allSettled([...running]);
      await bookkeeping.close();
      pooled?.close();
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

// The dispatcher: claims due deliveries (a conditional UPDATE, so one instance sends each
// attempt), opens the sealed parameters in memory, renders, applies the recipient's rate limit,
// sends, and records the outcome with its event in one transaction. A failed attempt waits
// NOTIFY_BACKOFF_MS[n] and is retried, up to NOTIFY_MAX_ATTEMPTS per round, then dead-lettered.
// Addresses and codes live only in local variables of one attempt; logs carry the masked hint.
import { randomUUID } from "node:crypto";
import { Channel } from "@clearmesh/contracts";
import { Sleeper, type OutboxRelay } from "@clearmesh/bus";
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { SealError, maskEmail, maskPhone, unsealText, type DataKeyRing } from "@clearmesh/trust";
import type { EmailChannel, SendOutcome, SmsProvider } from "./channels/types.js";
import { deliveryFailureReasons, RATE_LIMITED, type DeliveryFailureReason } from "./errors.js";
import type { EventWriter } from "./events.js";
import { ADDRESS_PARAMETER, isValidAddress, recipientKey, type DeliverableChannel } from "./recipients.js";
import {
  channelOfName, claimDelivery, dueDeliveries, findClaimed, findNotification, markDelivered, markFailed, nextDueAtMs,
  releaseRateLimited, releaseSendSlot, reserveSendSlot, setRecipient, type DeliveryRow, type NotificationRow,
} from "./repository.js";
import { effectiveLocale, renderMessage, type RenderedMessage } from "./templates/index.js";

export interface DispatcherLimits {
  backoffMs: readonly number[];
  maxAttempts: number;
  ratePerRecipientPerHour: number;
  maxConcurrentSends: number;
  pollIntervalMs: number;
  sendTimeoutMs: number;
  defaultLocale: string;
}

export interface DispatcherDeps {
  store: Store;
  logger: Logger;
  ring: DataKeyRing;
  email: EmailChannel;
  sms: SmsProvider;
  events: EventWriter;
  outbox: OutboxRelay;
  limits: DispatcherLimits;
  now: () => number;
  /** Called once per attempt outcome (metrics). */
  onOutcome?: (channel: string, outcome: string) => void;
}

export interface Dispatcher {
  /** Looks for due deliveries now (after a new request or a retry was recorded). */
  wake(): void;
  /** Stops claiming and waits for the attempts in flight. */
  stop(): Promise<void>;
}

/** Pause after the dispatcher's own store access failed. */
const LOOP_FAILURE_PAUSE_MS = 1_000;
/** Margin of a claim over the attempt's own deadline, after which another instance may take it. */
const LEASE_MARGIN_MS = 30_000;

export function startDispatcher(deps: DispatcherDeps): Dispatcher {
  const wakeup = new Sleeper();
  const inFlight = new Set<Promise<void>>();
  const attemptDeadlineMs = deps.limits.sendTimeoutMs * 2;
  let stopped = false;

  const track = (attempt: Promise<void>) => {
    inFlight.add(attempt);
    void attempt.finally(() => {
      inFlight.delete(attempt);
      wakeup.wake();
    });
  };

  /** Claims what is due and free slots allow; true when more may be due right away. */
  async function claimDue(): Promise<boolean> {
    const free = deps.limits.maxConcurrentSends - inFlight.size;
    if (free <= 0) return false;
    const nowMs = deps.now();
    const due = await dueDeliveries(deps.store, nowMs, free);
    for (const seq of due) {
      const token = randomUUID();
      if (await claimDelivery(deps.store, seq, nowMs, token, nowMs + attemptDeadlineMs + LEASE_MARGIN_MS)) {
        track(attempt(deps, seq, token, nowMs, attemptDeadlineMs));
      }
    }
    return due.length === free;
  }

  async function idleMs(): Promise<number> {
    if (inFlight.size >= deps.limits.maxConcurrentSends) return deps.limits.pollIntervalMs;
    const dueAtMs = await nextDueAtMs(deps.store);
    if (dueAtMs === undefined) return deps.limits.pollIntervalMs;
    return Math.max(0, Math.min(deps.limits.pollIntervalMs, dueAtMs - deps.now()));
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        if (await claimDue()) continue;
        await wakeup.sleep(await idleMs());
      } catch (error) {
        deps.logger.error({ err: (error as Error).message }, "dispatcher could not read due deliveries; retrying");
        await wakeup.sleep(LOOP_FAILURE_PAUSE_MS);
      }
    }
  })();

  return {
    wake: () => wakeup.wake(),
    async stop() {
      stopped = true;
      wakeup.wake();
      await loop;
      await Promise.allSettled([...inFlight]);
    },
  };
}

type Prepared =
  | { ok: true; channel: DeliverableChannel; address: string; message: RenderedMessage }
  | { ok: false; reason: DeliveryFailureReason; detail: string };

/** One attempt of one claimed delivery; never throws (a store failure leaves the claim to expire). */
async function attempt(deps: DispatcherDeps, seq: bigint, token: string, attemptAtMs: number, deadlineMs: number): Promise<void> {
  try {
    const row = await findClaimed(deps.store, seq, token);
    if (row === undefined) return;
    const notification = await findNotification(deps.store, row.notification_id);
    const prepared = prepare(deps, row, notification);
    if (!prepared.ok) {
      await recordFailure(deps, row, token, attemptAtMs, undefined, prepared.reason, prepared.detail);
      return;
    }
    const key = recipientKey(deps.ring, prepared.channel, prepared.address);
    if (row.recipient_hint === "") row.recipient_hint = prepared.channel === Channel.EMAIL ? maskEmail(prepared.address) : maskPhone(prepared.address);
    if (!(await reserve(deps, row, token, key))) return;
    const outcome = await withDeadline(send(deps, prepared, row.notification_id), deadlineMs);
    deps.onOutcome?.(row.channel, outcome.ok ? "delivered" : outcome.reason);
    if (outcome.ok) await recordDelivered(deps, row, token, attemptAtMs);
    else await recordFailure(deps, row, token, attemptAtMs, key, outcome.reason, outcome.detail);
  } catch (error) {
    deps.logger.error({ seq: String(seq), err: (error as Error).message }, "delivery attempt could not be recorded; its claim will expire and it will be retried");
  }
}

/** Opens the address (and any code) and renders the message, in memory only. */
function prepare(deps: DispatcherDeps, row: DeliveryRow, notification: NotificationRow | undefined): Prepared {
  const channel = channelOfName(row.channel);
  if (notification === undefined || (channel !== Channel.EMAIL && channel !== Channel.SMS)) {
    return { ok: false, reason: "NO_REACHABLE_CHANNEL", detail: "no channel reaches the recipient" };
  }
  const sealed = JSON.parse(notification.sealed_parameters) as Record<string, string>;
  const secrets: Record<string, string> = {};
  try {
    for (const [name, value] of Object.entries(sealed)) secrets[name] = unsealText(deps.ring, value);
  } catch (error) {
    const why = error instanceof SealError ? error.reason : "error";
    return { ok: false, reason: "UNSEAL_FAILED", detail: `a sealed parameter does not open (${why})` };
  }
  const address = (secrets[ADDRESS_PARAMETER[channel]] ?? "").trim();
  if (!isValidAddress(channel, address)) {
    return { ok: false, reason: "INVALID_RECIPIENT", detail: channel === Channel.EMAIL ? "not an e-mail address" : "not an E.164 phone number" };
  }
  const message = renderMessage({
    kind: notification.kind,
    locale: effectiveLocale(notification.locale, deps.limits.defaultLocale),
    parameters: JSON.parse(notification.parameters) as Record<string, string>,
    secrets,
  });
  if ("reason" in message) return { ok: false, reason: message.reason, detail: message.detail };
  return { ok: true, channel, address, message };
}

/** Takes a slot of the recipient's hourly limit, or puts the delivery back until one frees. */
async function reserve(deps: DispatcherDeps, row: DeliveryRow, token: string, key: string): Promise<boolean> {
  const nowMs = deps.now();
  const decision = await deps.store.transaction(async (tx) => {
    await setRecipient(tx, row.seq, token, key, row.recipient_hint);
    if (row.rate_exempt) return { allowed: true } as const;
    const slot = await reserveSendSlot(tx, key, row.notification_id, deps.limits.ratePerRecipientPerHour, nowMs);
    if (!slot.allowed) await releaseRateLimited(tx, row.seq, token, slot.untilMs, RATE_LIMITED);
    return slot;
  });
  if (!decision.allowed) {
    deps.logger.info({ notificationId: row.notification_id, recipient: row.recipient_hint, until: new Date(decision.untilMs).toISOString() },
      "recipient's rate limit reached; delivery delayed");
  }
  return decision.allowed;
}

function send(deps: DispatcherDeps, prepared: Extract<Prepared, { ok: true }>, notificationId: string): Promise<SendOutcome> {
  const { message, address } = prepared;
  if (prepared.channel === Channel.EMAIL) {
    return deps.email.send({ notificationId, to: address, subject: message.subject, text: message.text, html: message.html });
  }
  return deps.sms.send({ notificationId, to: address, text: message.sms });
}

function withDeadline(sending: Promise<SendOutcome>, deadlineMs: number): Promise<SendOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<SendOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: "CHANNEL_TIMEOUT", detail: "attempt deadline" }), deadlineMs);
  });
  return Promise.race([sending, expired]).finally(() => clearTimeout(timer));
}

async function recordDelivered(deps: DispatcherDeps, row: DeliveryRow, token: string, attemptAtMs: number): Promise<void> {
  const recorded = await deps.store.transaction(async (tx) => {
    if (!(await markDelivered(tx, row.seq, token, attemptAtMs, deps.now()))) return false;
    await deps.events.delivered(tx, {
      notificationId: row.notification_id, channel: channelOfName(row.channel), attempts: Number(row.attempts),
      kind: row.kind, recipientHint: row.recipient_hint, producer: row.producer,
    });
    return true;
  });
  deps.outbox.notify();
  logOutcome(deps, row, recorded, "delivered", { attempts: Number(row.attempts) });
}

/** Schedules the next attempt, or dead-letters when the reason is final or the round is used up. */
async function recordFailure(
  deps: DispatcherDeps, row: DeliveryRow, token: string, attemptAtMs: number, key: string | undefined, reason: DeliveryFailureReason, detail: string,
): Promise<void> {
  const roundAttempts = Number(row.attempts - row.round_start_attempts);
  const retry = deliveryFailureReasons[reason].retry && roundAttempts < deps.limits.maxAttempts;
  const backoff = deps.limits.backoffMs;
  const nextAttemptAtMs = retry ? deps.now() + backoff[Math.min(roundAttempts - 1, backoff.length - 1)]! : undefined;
  const common = { notificationId: row.notification_id, channel: channelOfName(row.channel), attempts: Number(row.attempts), reason, kind: row.kind, producer: row.producer };
  const recorded = await deps.store.transaction(async (tx) => {
    if (!(await markFailed(tx, row.seq, token, attemptAtMs, reason, nextAttemptAtMs))) return false;
    if (key !== undefined) await releaseSendSlot(tx, key, row.notification_id);
    if (nextAttemptAtMs === undefined) await deps.events.deadLettered(tx, common);
    else await deps.events.failed(tx, { ...common, nextAttemptAtMs: BigInt(nextAttemptAtMs) });
    return true;
  });
  deps.outbox.notify();
  logOutcome(deps, row, recorded, nextAttemptAtMs === undefined ? "dead-lettered" : "attempt failed; will retry", {
    attempts: Number(row.attempts), reason, detail, ...(nextAttemptAtMs === undefined ? {} : { nextAttemptAt: new Date(nextAttemptAtMs).toISOString() }),
  });
}

function logOutcome(deps: DispatcherDeps, row: DeliveryRow, recorded: boolean, what: string, fields: Record<string, unknown>): void {
  const base = { notificationId: row.notification_id, channel: row.channel, kind: row.kind, recipient: row.recipient_hint, ...fields };
  if (!recorded) {
    // Another instance took the claim over (ours outlived its lease): it owns the outcome now.
    deps.logger.warn(base, `delivery ${what}, but its claim had expired; outcome left to the instance that holds it`);
  } else if (what === "delivered") {
    deps.logger.info(base, "delivery delivered");
  } else {
    deps.logger.warn(base, `delivery ${what}`);
  }
}

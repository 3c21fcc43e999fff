// Turning events into deliveries, inside the consumer's transaction (the event id is recorded in
// the same one): a clearmesh.notify.requested from a producer, or an operator alert from
// clearing. Nothing is opened here; the request is checked as far as it can be without its
// secrets, and one that can never be sent is dead-lettered at once (and reported).
import { decodePayload, type VerifiedEvent } from "@clearmesh/bus";
import {
  Channel, NotificationRequestedSchema, PositionThresholdCrossedSchema, SettlementWindowFailedSchema, type NotificationRequested,
} from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Transaction } from "@clearmesh/store";
import { maskEmail, seal, type DataKeyRing } from "@clearmesh/trust";
import type { DeliveryFailureReason } from "./errors.js";
import type { EventWriter } from "./events.js";
import { chooseChannel, safeHint } from "./recipients.js";
import { CHANNEL_NAMES, insertDelivery, insertNotification, type NewNotification } from "./repository.js";
import { checkTemplateInput } from "./templates/index.js";

export const NOTIFICATION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** Bounds on one request, so a producer's bug cannot fill the store. */
export const MAX_PARAMETERS = 32;
export const MAX_SEALED_PARAMETERS = 8;
export const MAX_PARAMETER_CHARS = 4_096;
export const MAX_KIND_CHARS = 64;
const SEALED_VALUE_PATTERN = /^v1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{1,8192}$/;
const LOCALE_PATTERN = /^[A-Za-z0-9-]{0,35}$/;

export interface RequestDeps {
  logger: Logger;
  events: EventWriter;
  now: () => number;
}

/** A verified event whose payload cannot be used at all (no id to record it under). */
export class UnusableEventError extends Error {}

/** Records the delivery of one clearmesh.notify.requested (a second request with its id changes nothing). */
export async function recordRequest(deps: RequestDeps, event: VerifiedEvent, tx: Transaction): Promise<void> {
  let request: NotificationRequested;
  try {
    request = decodePayload(event, NotificationRequestedSchema);
  } catch (error) {
    throw new UnusableEventError((error as Error).message);
  }
  if (!NOTIFICATION_ID_PATTERN.test(request.notificationId)) throw new UnusableEventError("notification_id must be 1-64 of [A-Za-z0-9._:-]");
  const problem = requestProblem(request);
  const sealedNames = Object.keys(request.sealedParameters);
  const channel = problem ? undefined : chooseChannel(request.channels, sealedNames);
  const template = problem ? undefined : checkTemplateInput(request.kind, request.parameters, sealedNames);
  const deadLetter: { reason: DeliveryFailureReason; detail: string } | undefined =
    problem ?? (channel === undefined ? { reason: "NO_REACHABLE_CHANNEL", detail: "no requested channel has its address among the sealed parameters" } : template);
  const notification: NewNotification = {
    notificationId: request.notificationId,
    eventId: event.id,
    producer: event.producer,
    kind: request.kind.slice(0, MAX_KIND_CHARS),
    locale: LOCALE_PATTERN.test(request.locale) ? request.locale : "",
    // What failed the bounds or the sealed form is not kept (it might be an address in clear).
    parameters: problem ? {} : { ...request.parameters },
    sealedParameters: problem ? {} : { ...request.sealedParameters },
    recipientHint: safeHint(request.recipientHint),
    nowMs: deps.now(),
  };
  await addNotification(deps, tx, notification, channel ?? Channel.UNSPECIFIED, false, deadLetter);
}

/** Why a request is refused before its template is looked at: bounds, and secrets really sealed. */
function requestProblem(request: NotificationRequested): { reason: DeliveryFailureReason; detail: string } | undefined {
  const parameters = Object.entries(request.parameters);
  const sealed = Object.entries(request.sealedParameters);
  if (request.kind.length > MAX_KIND_CHARS) return { reason: "UNKNOWN_KIND", detail: `kind is longer than ${MAX_KIND_CHARS} characters` };
  if (parameters.length > MAX_PARAMETERS || sealed.length > MAX_SEALED_PARAMETERS) return { reason: "INVALID_PARAMETERS", detail: "too many parameters" };
  if ([...parameters, ...sealed].some(([name, value]) => name.length > MAX_KIND_CHARS || value.length > MAX_PARAMETER_CHARS)) {
    return { reason: "INVALID_PARAMETERS", detail: `a parameter is longer than ${MAX_PARAMETER_CHARS} characters` };
  }
  if (sealed.some(([, value]) => !SEALED_VALUE_PATTERN.test(value))) {
    return { reason: "UNSEAL_FAILED", detail: "a sealed parameter is not in sealed form (v1.<key id>.<box>)" };
  }
  return undefined;
}

/** The notification and its delivery; a dead letter is reported at once. */
async function addNotification(
  deps: RequestDeps, tx: Transaction, notification: NewNotification, channel: Channel, rateExempt: boolean,
  deadLetter: { reason: DeliveryFailureReason; detail: string } | undefined,
): Promise<void> {
  const log = { notificationId: notification.notificationId, producer: notification.producer, kind: notification.kind, recipient: notification.recipientHint };
  if (!(await insertNotification(tx, notification))) {
    deps.logger.info(log, "notification id already requested; nothing more to deliver");
    return;
  }
  await insertDelivery(tx, {
    notificationId: notification.notificationId, channel: CHANNEL_NAMES[channel], producer: notification.producer, kind: notification.kind,
    recipientHint: notification.recipientHint, rateExempt, deadLetterReason: deadLetter?.reason, nowMs: notification.nowMs,
  });
  if (deadLetter === undefined) {
    deps.logger.info({ ...log, channel: CHANNEL_NAMES[channel] }, "notification accepted");
    return;
  }
  await deps.events.deadLettered(tx, {
    notificationId: notification.notificationId, channel, attempts: 0, reason: deadLetter.reason, kind: notification.kind, producer: notification.producer,
  });
  deps.logger.warn({ ...log, reason: deadLetter.reason, detail: deadLetter.detail }, "notification can never be sent; dead-lettered");
}

// ---- operator alerts ------------------------------------------------------------------------

export interface AlertDeps extends RequestDeps {
  ring: DataKeyRing;
  /** Unset: alerts are off (the events are consumed and dropped). */
  operatorEmail: string | undefined;
  locale: string;
}

const money = (currency: string, amountMinor: bigint) => JSON.stringify({ currency, amountMinor: amountMinor.toString() });

/** A position crossing its threshold (clearmesh.clearing.position.threshold_crossed). */
export async function recordThresholdAlert(deps: AlertDeps, event: VerifiedEvent, tx: Transaction): Promise<void> {
  if (deps.operatorEmail === undefined) return;
  const crossed = decodeAlert(event, PositionThresholdCrossedSchema);
  await addAlert(deps, tx, event, "operator.position_threshold", {
    participant: crossed.participantId.slice(0, 64),
    exposure: money(crossed.currency, crossed.exposureMinor),
    cap: money(crossed.currency, crossed.netDebitCapMinor),
    threshold_percent: String(crossed.thresholdPercent),
    direction: crossed.above ? "above" : "below",
  });
}

/** A settlement window the settlement bank refused (clearmesh.settlement.window.failed). */
export async function recordWindowFailedAlert(deps: AlertDeps, event: VerifiedEvent, tx: Transaction): Promise<void> {
  if (deps.operatorEmail === undefined) return;
  const window = decodeAlert(event, SettlementWindowFailedSchema).window;
  if (window === undefined) throw new UnusableEventError("window is missing");
  await addAlert(deps, tx, event, "operator.settlement_failed", {
    window_id: window.windowId.slice(0, 64),
    attempt: String(window.attempt),
    failure_reason: window.failureReason.slice(0, 200),
    failed_instructions: truncate(window.failedInstructionIds.join(", "), 200),
  });
}

function decodeAlert<Desc extends Parameters<typeof decodePayload>[1]>(event: VerifiedEvent, schema: Desc) {
  try {
    return decodePayload(event, schema);
  } catch (error) {
    throw new UnusableEventError((error as Error).message);
  }
}

async function addAlert(deps: AlertDeps, tx: Transaction, event: VerifiedEvent, kind: string, parameters: Record<string, string>): Promise<void> {
  const operatorEmail = deps.operatorEmail!;
  const notification: NewNotification = {
    // Derived from the event id, so the same event never alerts twice.
    notificationId: `alert.${event.id}`,
    eventId: event.id,
    producer: event.producer,
    kind,
    locale: deps.locale,
    parameters,
    sealedParameters: { email: seal(deps.ring, operatorEmail) },
    recipientHint: maskEmail(operatorEmail),
    nowMs: deps.now(),
  };
  // Alerts are exempt from the rate limit: delaying one by an hour would defeat it.
  await addNotification(deps, tx, notification, Channel.EMAIL, true, undefined);
}

function truncate(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

// The notifier's subjects, and its own events written to the outbox in the transaction of the
// change they report, signed by the notifier's identity.
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { buildEnvelope, enqueueEvent } from "@clearmesh/bus";
import {
  NotificationDeadLetteredSchema, NotificationDeliveredSchema, NotificationFailedSchema,
} from "@clearmesh/contracts";
import type { Transaction } from "@clearmesh/store";
import type { SigningKey } from "@clearmesh/trust";

export const NOTIFY_SUBJECTS = {
  requested: "clearmesh.notify.requested",
  delivered: "clearmesh.notify.delivered",
  failed: "clearmesh.notify.failed",
  deadLettered: "clearmesh.notify.dead_lettered",
} as const;

export const ALERT_SUBJECTS = {
  thresholdCrossed: "clearmesh.clearing.position.threshold_crossed",
  windowFailed: "clearmesh.settlement.window.failed",
} as const;

async function enqueue<Desc extends DescMessage>(tx: Transaction, identity: SigningKey, nowMs: number, subject: string, schema: Desc, message: MessageInitShape<Desc>): Promise<void> {
  const envelope = buildEnvelope(identity, { subject, schema, message: create(schema, message), producedAtMs: BigInt(nowMs) });
  await enqueueEvent(tx, envelope.bytes, envelope.id, subject);
}

export interface EventWriter {
  delivered(tx: Transaction, message: MessageInitShape<typeof NotificationDeliveredSchema>): Promise<void>;
  failed(tx: Transaction, message: MessageInitShape<typeof NotificationFailedSchema>): Promise<void>;
  deadLettered(tx: Transaction, message: MessageInitShape<typeof NotificationDeadLetteredSchema>): Promise<void>;
}

export function createEventWriter(identity: SigningKey, now: () => number): EventWriter {
  return {
    delivered: (tx, message) => enqueue(tx, identity, now(), NOTIFY_SUBJECTS.delivered, NotificationDeliveredSchema, message),
    failed: (tx, message) => enqueue(tx, identity, now(), NOTIFY_SUBJECTS.failed, NotificationFailedSchema, message),
    deadLettered: (tx, message) => enqueue(tx, identity, now(), NOTIFY_SUBJECTS.deadLettered, NotificationDeadLetteredSchema, message),
  };
}

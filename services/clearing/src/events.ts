// Clearing's events go through the transactional outbox: written in the same transaction as
// the change they announce, published by the relay after commit.
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { buildEnvelope, enqueueEvent } from "@clearmesh/bus";
import type { Transaction } from "@clearmesh/store";
import type { SigningKey } from "@clearmesh/trust";

export const SUBJECTS = {
  participantUpdated: "clearmesh.clearing.participant.updated",
  transferCommitted: "clearmesh.clearing.transfer.committed",
} as const;

export type EventWriter = <Desc extends DescMessage>(tx: Transaction, subject: string, schema: Desc, message: MessageInitShape<Desc>) => Promise<void>;

export function createEventWriter(identity: SigningKey, now: () => number): EventWriter {
  return async (tx, subject, schema, message) => {
    const envelope = buildEnvelope(identity, { subject, schema, message: create(schema, message), producedAtMs: BigInt(now()) });
    await enqueueEvent(tx, envelope.bytes, envelope.id, subject);
  };
}

/** An event ready for the outbox: a signed envelope and where it goes. */
export interface SealedEvent {
  subject: string;
  id: string;
  bytes: Uint8Array;
}

export interface EventToSeal<Desc extends DescMessage = DescMessage> {
  subject: string;
  schema: Desc;
  message: MessageInitShape<Desc>;
}

/** Signs events in the order given (ids ascend with it), ready for the outbox; throws if one cannot be sealed. */
export type EventSealer = (events: readonly EventToSeal[]) => SealedEvent[];

export function createEventSealer(identity: SigningKey, now: () => number): EventSealer {
  return (events) => {
    const producedAtMs = BigInt(now());
    return events.map(({ subject, schema, message }) => {
      const envelope = buildEnvelope(identity, { subject, schema, message: create(schema, message), producedAtMs });
      return { subject, id: envelope.id, bytes: envelope.bytes };
    });
  };
}

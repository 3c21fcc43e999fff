import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { EnvelopeSchema } from "@clearmesh/contracts";
import type { Envelope } from "@clearmesh/contracts";
import { signEvent, verifyEventSignature } from "@clearmesh/trust";
import type { SigningKey } from "@clearmesh/trust";
import type { JetStreamClient, PubAck } from "nats";
import { newUlid } from "./ulid.js";

export interface BuildEnvelopeInput<Desc extends DescMessage> {
  /** NATS subject, `clearmesh.<domain>.<entity>.<event>`. */
  subject: string;
  schema: Desc;
  message: MessageShape<Desc>;
  /** Defaults to a new ULID. */
  id?: string;
  /** Defaults to now. */
  producedAtMs?: bigint;
}

export interface BuiltEnvelope {
  /** The binary clearmesh.events.v1.Envelope: the NATS message data. */
  bytes: Uint8Array;
  id: string;
}

/** Encodes the payload and wraps it in an Envelope signed by `key` (PROTOCOL.md §5). */
export function buildEnvelope<Desc extends DescMessage>(key: SigningKey, input: BuildEnvelopeInput<Desc>): BuiltEnvelope {
  const fields = envelopeFields(key, input);
  return sealEnvelope(fields, signEvent(key, fields));
}

function envelopeFields<Desc extends DescMessage>(key: SigningKey, input: BuildEnvelopeInput<Desc>) {
  return {
    id: input.id ?? newUlid(),
    type: input.schema.typeName,
    producer: key.participantId,
    keyId: key.keyId,
    producedAtMs: input.producedAtMs ?? BigInt(Date.now()),
    subject: input.subject,
    payload: toBinary(input.schema, input.message),
  };
}

function sealEnvelope(fields: ReturnType<typeof envelopeFields>, signature: Uint8Array): BuiltEnvelope {
  const envelope = create(EnvelopeSchema, { ...fields, signature });
  return { bytes: toBinary(EnvelopeSchema, envelope), id: fields.id };
}

/** Publishes envelope bytes with Nats-Msg-Id = id, so JetStream drops a retried copy. */
export function publishEnvelope(
  js: JetStreamClient,
  bytes: Uint8Array,
  id: string,
  subject: string,
  timeoutMs?: number,
): Promise<PubAck> {
  return js.publish(subject, bytes, timeoutMs === undefined ? { msgID: id } : { msgID: id, timeout: timeoutMs });
}

/** An envelope whose signature checked out against the producer's active key. */
export interface VerifiedEvent {
  id: string;
  type: string;
  producer: string;
  keyId: string;
  producedAtMs: bigint;
  subject: string;
  payload: Uint8Array;
  envelope: Envelope;
}

/** Why an event was dropped without reaching a handler (values are metric labels). */
export enum InvalidEventReason {
  /** Not a decodable Envelope, or a required field is empty. */
  MALFORMED = "MALFORMED",
  SIGNATURE_MISSING = "SIGNATURE_MISSING",
  /** The producer has no active key with that id. */
  UNKNOWN_KEY = "UNKNOWN_KEY",
  BAD_SIGNATURE = "BAD_SIGNATURE",
  /** The envelope names another subject than the one it arrived on. */
  SUBJECT_MISMATCH = "SUBJECT_MISMATCH",
}

/** Returns the public key of the producer's key `keyId` while it is active, else undefined. */
export type KeyLookup = (producer: string, keyId: string) => Uint8Array | undefined;

export type VerifyResult = { ok: true; event: VerifiedEvent } | { ok: false; reason: InvalidEventReason };

/** Decodes and verifies one NATS message's data; never throws. */
export function verifyEnvelope(data: Uint8Array, natsSubject: string, keyLookup: KeyLookup): VerifyResult {
  let envelope: Envelope;
  try {
    // Decode a copy: bytes fields would otherwise be views into the connection's read buffer.
    envelope = fromBinary(EnvelopeSchema, new Uint8Array(data));
  } catch {
    return { ok: false, reason: InvalidEventReason.MALFORMED };
  }
  const { id, type, producer, keyId, producedAtMs, subject, payload, signature } = envelope;
  if (id === "" || type === "" || producer === "" || keyId === "" || subject === "") {
    return { ok: false, reason: InvalidEventReason.MALFORMED };
  }
  if (signature.length === 0) return { ok: false, reason: InvalidEventReason.SIGNATURE_MISSING };
  if (subject !== natsSubject) return { ok: false, reason: InvalidEventReason.SUBJECT_MISMATCH };
  const publicKey = keyLookup(producer, keyId);
  if (publicKey === undefined) return { ok: false, reason: InvalidEventReason.UNKNOWN_KEY };
  const fields = { id, type, producer, keyId, producedAtMs, subject, payload };
  if (!verifyEventSignature(publicKey, fields, signature)) {
    return { ok: false, reason: InvalidEventReason.BAD_SIGNATURE };
  }
  return { ok: true, event: { ...fields, envelope } };
}

/** The event's payload was not of the type a handler asked for. */
export class EventTypeMismatchError extends Error {
  readonly expected: string;
  readonly actual: string;

  constructor(expected: string, actual: string) {
    super(`event carries ${actual}, expected ${expected}`);
    this.name = "EventTypeMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** Decodes the payload as `schema`, after checking the envelope says it is one. */
export function decodePayload<Desc extends DescMessage>(event: VerifiedEvent, schema: Desc): MessageShape<Desc> {
  if (event.type !== schema.typeName) throw new EventTypeMismatchError(schema.typeName, event.type);
  return fromBinary(schema, event.payload);
}

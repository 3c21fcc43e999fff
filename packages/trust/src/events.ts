import { sha256, toBase64, utf8 } from "./encoding.js";
import { assertSingleLine, millisecondsText } from "./fields.js";
import type { MillisecondsValue } from "./fields.js";
import { ed25519Verify } from "./keys.js";
import type { SigningKey } from "./keys.js";

export const EVENT_CONTEXT = "clearmesh-event-v1";

/** The signed fields of a clearmesh.events.v1.Envelope (everything but `signature`). */
export interface EventFields {
  id: string;
  type: string;
  producer: string;
  keyId: string;
  producedAtMs: MillisecondsValue;
  subject: string;
  payload: Uint8Array;
}

export function eventSignedText(fields: EventFields): string {
  const lines = [
    EVENT_CONTEXT,
    fields.id,
    fields.type,
    fields.producer,
    fields.keyId,
    millisecondsText("producedAtMs", fields.producedAtMs),
    fields.subject,
    toBase64(sha256(fields.payload)),
  ];
  lines.forEach((line, index) => assertSingleLine(`event line ${index + 1}`, line));
  return lines.join("\n");
}

/** Signs an envelope; the key must be the one the envelope names, or consumers could not verify it. */
export function signEvent(key: SigningKey, fields: EventFields): Uint8Array {
  return key.sign(eventSignedMessage(key, fields));
}

function eventSignedMessage(key: SigningKey, fields: EventFields): Uint8Array {
  if (fields.producer !== key.participantId || fields.keyId !== key.keyId) {
    throw new Error(
      `event names ${fields.producer}/${fields.keyId} but the signing key is ${key.participantId}/${key.keyId}`,
    );
  }
  return utf8(eventSignedText(fields));
}

/** Never throws: malformed fields verify as false. */
export function verifyEventSignature(publicKey: Uint8Array, fields: EventFields, signature: Uint8Array): boolean {
  let signedText: string;
  try {
    signedText = eventSignedText(fields);
  } catch {
    return false;
  }
  return ed25519Verify(publicKey, utf8(signedText), signature);
}

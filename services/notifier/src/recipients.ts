// Recipients: which channel reaches them, whether an opened address is well formed, a masked
// hint that is safe to store, and a keyed hash that identifies an address (for the rate limit
// and ListDeliveries by recipient) without storing it: HMAC-SHA256 under a key derived from the
// notification data key, so the hash of a guessed address cannot be computed without that key.
import { createHmac } from "node:crypto";
import { Channel } from "@clearmesh/contracts";
import { maskEmail, maskPhone, type DataKeyRing } from "@clearmesh/trust";

/** The sealed parameter holding each channel's address. */
export const ADDRESS_PARAMETER: Readonly<Record<Channel.EMAIL | Channel.SMS, string>> = {
  [Channel.EMAIL]: "email",
  [Channel.SMS]: "phone",
};

export type DeliverableChannel = Channel.EMAIL | Channel.SMS;

/** The first requested channel whose address the request carries. */
export function chooseChannel(preferences: readonly Channel[], sealedNames: readonly string[]): DeliverableChannel | undefined {
  for (const channel of preferences) {
    if ((channel === Channel.EMAIL || channel === Channel.SMS) && sealedNames.includes(ADDRESS_PARAMETER[channel])) return channel;
  }
  return undefined;
}

const EMAIL_PATTERN = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const E164_PATTERN = /^\+[1-9]\d{6,14}$/;
const MAX_EMAIL_CHARS = 254;

export function isValidAddress(channel: DeliverableChannel, address: string): boolean {
  if (channel === Channel.EMAIL) return address.length <= MAX_EMAIL_CHARS && EMAIL_PATTERN.test(address);
  return E164_PATTERN.test(address);
}

/**
 * The hint as stored: producers send it masked, but one that looks like a whole address or
 * phone number is masked again here, so a producer's slip never puts it in the database.
 */
export function safeHint(hint: string): string {
  const trimmed = hint.trim().slice(0, 128);
  const at = trimmed.lastIndexOf("@");
  if (at > 0 && !trimmed.slice(0, at).includes("*")) return maskEmail(trimmed);
  if (/^\+?[\d\s().-]{6,}$/.test(trimmed) && /\d{5,}/.test(trimmed.replace(/[\s().-]/g, ""))) return maskPhone(trimmed);
  return trimmed;
}

const RECIPIENT_KEY_CONTEXT = "clearmesh-notify-recipient-v1";

function derivedKey(dataKey: Uint8Array): Buffer {
  return createHmac("sha256", dataKey).update(RECIPIENT_KEY_CONTEXT).digest();
}

function normalized(channel: DeliverableChannel, address: string): string {
  return `${channel === Channel.EMAIL ? "email" : "sms"}:${channel === Channel.EMAIL ? address.trim().toLowerCase() : address.trim()}`;
}

/** `<data key id>.<hex HMAC>` of the address under the active data key. */
export function recipientKey(ring: DataKeyRing, channel: DeliverableChannel, address: string): string {
  return recipientKeyWith(ring.activeKeyId, ring.keys.get(ring.activeKeyId)!, channel, address);
}

/** The address's key under every data key of the ring (rows written before a rotation match too). */
export function recipientKeysUnderEveryKey(ring: DataKeyRing, channel: DeliverableChannel, address: string): string[] {
  return [...ring.keys].map(([keyId, key]) => recipientKeyWith(keyId, key, channel, address));
}

function recipientKeyWith(keyId: string, dataKey: Uint8Array, channel: DeliverableChannel, address: string): string {
  return `${keyId}.${createHmac("sha256", derivedKey(dataKey)).update(normalized(channel, address)).digest("hex")}`;
}

// Notifications to users: every finished or failed movement writes clearmesh.notify.requested
// into the outbox in the transaction that changes the books, so the event exists exactly when the
// change commits. The recipient's address is opened with the user's key and sealed again with
// NOTIFY_DATA_KEYS (the notifier's ring); logs and the event's hint show it only masked.
// Channels follow the user's preferences, by default e-mail for a success and SMS for a failure.
import { create } from "@bufbuild/protobuf";
import { buildEnvelope, enqueueEvent } from "@clearmesh/bus";
import { Channel, NotificationPreferencesSchema, NotificationRequestedSchema, type NotificationPreferences, type SetNotificationPreferencesRequest } from "@clearmesh/contracts";
import type { Queryable, Store, Transaction } from "@clearmesh/store";
import { maskEmail, maskPhone, seal, type DataKeyRing, type SigningKey } from "@clearmesh/trust";
import { invalidField } from "../errors.js";
import { openPersonal, openUserKey } from "../users/personal.js";

export const NOTIFY_REQUESTED_SUBJECT = "clearmesh.notify.requested";

/** The kinds the wallet sends, with their default channels. */
export const NOTIFICATION_KINDS: Readonly<Record<string, readonly Channel[]>> = {
  "transfer.sent": [Channel.EMAIL],
  "transfer.received": [Channel.EMAIL],
  "payment.succeeded": [Channel.EMAIL],
  "payment.refunded": [Channel.EMAIL],
  "topup.completed": [Channel.EMAIL],
  "withdrawal.completed": [Channel.EMAIL],
  "movement.failed": [Channel.SMS],
};

const ADDRESS_OF: Readonly<Record<number, "email" | "phone">> = { [Channel.EMAIL]: "email", [Channel.SMS]: "phone" };

export interface UserNotification {
  /** Stable per movement and kind, so a retried transaction cannot notify twice. */
  notificationId: string;
  userId: string;
  kind: string;
  /** Plain parameters; money as Money JSON with the amount as a string. */
  parameters: Record<string, string>;
}

export interface Notifier {
  notify(tx: Transaction, notification: UserNotification): Promise<void>;
}

export function moneyParameter(currency: string, amountMinor: bigint): string {
  return JSON.stringify({ currency, amountMinor: String(amountMinor) });
}

export function createNotifier(deps: { identity: SigningKey; dataKeys: DataKeyRing; notifyDataKeys: DataKeyRing; now: () => number }): Notifier {
  return {
    async notify(tx, notification) {
      // The user's preference for the kind, key and sealed addresses in one read.
      const [row] = await tx.query<{ channels: string | null; sealed_key: string | null; email_sealed: string | null; phone_sealed: string | null }>(
        `SELECT p.channels, k.sealed_key, u.email_sealed, u.phone_sealed FROM users u
           LEFT JOIN user_keys k ON k.user_id = u.user_id
           LEFT JOIN notification_preferences p ON p.user_id = u.user_id AND p.kind = $2
         WHERE u.user_id = $1`,
        [notification.userId, notification.kind],
      );
      const channels = channelsFrom(row?.channels ?? null, notification.kind);
      if (channels.length === 0) return;
      // An erased user has no address left to write to.
      if (!row?.sealed_key || !row.email_sealed || !row.phone_sealed) return;
      const key = openUserKey(deps.dataKeys, row.sealed_key);
      const sealed = { email: row.email_sealed, phone: row.phone_sealed };
      // Only the addresses asked for are opened (the hint shows the first channel's).
      const addresses: Partial<Record<"email" | "phone", string>> = {};
      for (const channel of channels) addresses[ADDRESS_OF[channel]!] ??= openPersonal(key, sealed[ADDRESS_OF[channel]!]);
      const sealedParameters: Record<string, string> = {};
      for (const channel of channels) sealedParameters[ADDRESS_OF[channel]!] = seal(deps.notifyDataKeys, addresses[ADDRESS_OF[channel]!]!);
      const message = create(NotificationRequestedSchema, {
        notificationId: notification.notificationId, kind: notification.kind, channels: [...channels], parameters: notification.parameters, sealedParameters,
        recipientHint: channels[0] === Channel.SMS ? maskPhone(addresses.phone!) : maskEmail(addresses.email!),
      });
      const envelope = buildEnvelope(deps.identity, { subject: NOTIFY_REQUESTED_SUBJECT, schema: NotificationRequestedSchema, message, producedAtMs: BigInt(deps.now()) });
      await enqueueEvent(tx, envelope.bytes, envelope.id, NOTIFY_REQUESTED_SUBJECT);
    },
  };
}

async function channelsOf(db: Queryable, userId: string, kind: string): Promise<readonly Channel[]> {
  const [row] = await db.query<{ channels: string }>("SELECT channels FROM notification_preferences WHERE user_id = $1 AND kind = $2", [userId, kind]);
  return channelsFrom(row?.channels ?? null, kind);
}

/** The channels of a stored preference (null: none stored, the kind's default; empty: the kind is off). */
function channelsFrom(stored: string | null, kind: string): readonly Channel[] {
  if (stored === null) return NOTIFICATION_KINDS[kind] ?? [Channel.EMAIL];
  return stored === "" ? [] : stored.split(",").map((name) => Channel[name as keyof typeof Channel]);
}

export async function notificationPreferences(db: Queryable, userId: string): Promise<NotificationPreferences> {
  const preferences = [];
  for (const kind of Object.keys(NOTIFICATION_KINDS)) preferences.push({ kind, channels: [...(await channelsOf(db, userId, kind))] });
  return create(NotificationPreferencesSchema, { preferences });
}

export async function setNotificationPreferences(store: Store, userId: string, request: SetNotificationPreferencesRequest): Promise<NotificationPreferences> {
  const changes = request.preferences.map((preference, index) => {
    if (!(preference.kind in NOTIFICATION_KINDS)) throw invalidField(`preferences[${index}].kind`, `must be one of ${Object.keys(NOTIFICATION_KINDS).join(", ")}`);
    const channels = [...new Set(preference.channels)];
    if (channels.some((channel) => channel !== Channel.EMAIL && channel !== Channel.SMS)) throw invalidField(`preferences[${index}].channels`, "must be CHANNEL_EMAIL or CHANNEL_SMS");
    return { kind: preference.kind, channels: channels.map((channel) => Channel[channel]).join(",") };
  });
  await store.transaction(async (tx) => {
    for (const change of changes) {
      await tx.execute(
        "INSERT INTO notification_preferences (user_id, kind, channels) VALUES ($1, $2, $3) ON CONFLICT (user_id, kind) DO UPDATE SET channels = excluded.channels",
        [userId, change.kind, change.channels],
      );
    }
  });
  return notificationPreferences(store, userId);
}

// NotifierService handlers: decode, authorize, read or change the store, answer. The operator
// sees every delivery; any other signer only those of the notifications it requested.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { Channel, DeliverySchema, DeliveryStatus, type Delivery, type NotifierService } from "@clearmesh/contracts";
import { callerOf, fieldChecks } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { invalidField, notifierError } from "./errors.js";
import { isValidAddress, recipientKeysUnderEveryKey } from "./recipients.js";
import { channelOfName, findDelivery, listDeliveries, reviveDeadLetter, type DeliveryFilter, type DeliveryRow, type StoredStatus } from "./repository.js";
import { NOTIFICATION_ID_PATTERN } from "./requests.js";

const OPERATOR = "operator";
const { pageLimit } = fieldChecks(invalidField);
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const PAGE_TOKEN_PREFIX = "d1:";

export interface HandlerDeps {
  store: Store;
  ring: DataKeyRing;
  now: () => number;
  /** A delivery was revived: look for due work now. */
  onRevived: () => void;
}

export function notifierHandlers(deps: HandlerDeps): Partial<ServiceImpl<typeof NotifierService>> {
  return {
    async getDelivery(request, context) {
      const caller = callerOf(context).participantId;
      const row = visible(await findDelivery(deps.store, requireNotificationId(request.notificationId)), caller);
      return toDelivery(row);
    },

    async listDeliveries(request, context) {
      const caller = callerOf(context).participantId;
      const limit = pageLimit(request.page?.pageSize);
      const filter: DeliveryFilter = {
        producer: caller === OPERATOR ? undefined : caller,
        statuses: storedStatuses(request.status),
        recipientHint: request.recipientHint === "" ? undefined : request.recipientHint,
        recipientKeys: request.recipient === "" ? undefined : recipientKeys(deps.ring, request.recipient),
        beforeSeq: decodePageToken(request.page?.pageToken ?? ""),
      };
      const rows = await listDeliveries(deps.store, filter, limit + 1);
      const page = rows.slice(0, limit);
      const nextPageToken = rows.length > limit ? encodePageToken(page[page.length - 1]!.seq) : "";
      return { deliveries: page.map(toDelivery), page: { nextPageToken } };
    },

    async retryDeadLetter(request, context) {
      const caller = callerOf(context).participantId;
      const notificationId = requireNotificationId(request.notificationId);
      if (!REQUEST_ID_PATTERN.test(request.requestId)) throw invalidField("request_id", "must be 1-64 of [A-Za-z0-9._:-]");
      const row = await deps.store.transaction(async (tx) => {
        const current = visible(await findDelivery(tx, notificationId), caller);
        if (current.status === "dead_lettered") {
          await reviveDeadLetter(tx, notificationId, request.requestId, deps.now());
          return findDelivery(tx, notificationId);
        }
        // The same retry again: no second effect, the delivery as it is now.
        if (current.retry_request_id === request.requestId) return current;
        throw notifierError("DELIVERY_NOT_DEAD_LETTERED", `delivery ${notificationId} is not dead-lettered`);
      });
      deps.onRevived();
      return toDelivery(row!);
    },
  };
}

function requireNotificationId(notificationId: string): string {
  if (!NOTIFICATION_ID_PATTERN.test(notificationId)) throw invalidField("notification_id", "must be 1-64 of [A-Za-z0-9._:-]");
  return notificationId;
}

/** The row if the caller may see it; otherwise the same answer as for an unknown id. */
function visible(row: DeliveryRow | undefined, caller: string): DeliveryRow {
  if (row === undefined || (caller !== OPERATOR && caller !== row.producer)) {
    throw notifierError("DELIVERY_NOT_FOUND", "no such delivery visible to the caller");
  }
  return row;
}

function storedStatuses(status: DeliveryStatus): StoredStatus[] | undefined {
  switch (status) {
    case DeliveryStatus.UNSPECIFIED: return undefined;
    case DeliveryStatus.PENDING: return ["pending", "sending"];
    case DeliveryStatus.DELIVERED: return ["delivered"];
    case DeliveryStatus.DEAD_LETTERED: return ["dead_lettered"];
    default: throw invalidField("status", "is not a DeliveryStatus");
  }
}

function recipientKeys(ring: DataKeyRing, recipient: string): string[] {
  const address = recipient.trim();
  const channel = address.startsWith("+") ? Channel.SMS : Channel.EMAIL;
  if (!isValidAddress(channel, address)) throw invalidField("recipient", "must be an e-mail address or an E.164 phone number");
  return recipientKeysUnderEveryKey(ring, channel, address);
}

const STATUSES: Record<StoredStatus, DeliveryStatus> = {
  pending: DeliveryStatus.PENDING,
  sending: DeliveryStatus.PENDING,
  delivered: DeliveryStatus.DELIVERED,
  dead_lettered: DeliveryStatus.DEAD_LETTERED,
};

const timestamp = (ms: bigint | null) => (ms === null ? undefined : timestampFromMs(Number(ms)));

export function toDelivery(row: DeliveryRow): Delivery {
  const status = STATUSES[row.status];
  return create(DeliverySchema, {
    notificationId: row.notification_id,
    channel: channelOfName(row.channel),
    recipient: row.recipient_hint,
    status,
    attempts: Number(row.attempts),
    lastAttemptAt: timestamp(row.last_attempt_at_ms),
    kind: row.kind,
    producer: row.producer,
    lastError: row.last_error ?? "",
    nextAttemptAt: status === DeliveryStatus.PENDING ? timestamp(row.next_attempt_at_ms) : undefined,
    createdAt: timestamp(row.created_at_ms),
    deliveredAt: timestamp(row.delivered_at_ms),
  });
}

function encodePageToken(lastSeq: bigint): string {
  return Buffer.from(`${PAGE_TOKEN_PREFIX}${lastSeq}`).toString("base64url");
}

function decodePageToken(token: string): bigint | undefined {
  if (token === "") return undefined;
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith(PAGE_TOKEN_PREFIX) || !/^\d{1,19}$/.test(text.slice(PAGE_TOKEN_PREFIX.length))) {
    throw invalidField("page.page_token", "is not a token this server issued");
  }
  return BigInt(text.slice(PAGE_TOKEN_PREFIX.length));
}

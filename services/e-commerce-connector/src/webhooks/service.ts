// The delivery log (ListWebhookDeliveries) and the manual retry (RetryWebhook).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  WebhookDeliverySchema, WebhookDeliveryState,
  type ListWebhookDeliveriesRequest, type ListWebhookDeliveriesResponse, type RetryWebhookRequest, type WebhookDelivery,
} from "@clearmesh/contracts";
import { pageToken } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { CommerceFailure, invalidField } from "../errors.js";
import { pageAfter, pageLimit, requireText } from "../validation.js";
import { attemptsOf, findDelivery, listDeliveries, scheduleRetry, type AttemptRecord, type DeliveryRecord } from "./repository.js";

export interface WebhookServiceDeps {
  store: Store;
  now: () => number;
  wakeWebhooks: () => void;
}

export type WebhookService = ReturnType<typeof createWebhookService>;

export function createWebhookService(deps: WebhookServiceDeps) {
  async function messages(deliveries: readonly DeliveryRecord[]): Promise<WebhookDelivery[]> {
    const attempts = await attemptsOf(deps.store, deliveries.map((delivery) => delivery.webhookId));
    return deliveries.map((delivery) => deliveryMessage(delivery, attempts.get(delivery.webhookId) ?? []));
  }

  return {
    /** `merchantId` undefined = every merchant (the operator). */
    async list(request: ListWebhookDeliveriesRequest, merchantId: string | undefined): Promise<ListWebhookDeliveriesResponse> {
      if (request.state !== WebhookDeliveryState.UNSPECIFIED && WebhookDeliveryState[request.state] === undefined) throw invalidField("state", "is not a delivery state");
      const limit = pageLimit(request.page?.pageSize);
      const after = pageAfter(request.page?.pageToken ?? "", 1);
      const deliveries = await listDeliveries(deps.store, {
        merchantId, state: request.state === WebhookDeliveryState.UNSPECIFIED ? undefined : request.state, afterWebhookId: after?.[0], limit: limit + 1,
      });
      const page = deliveries.slice(0, limit);
      const last = page[page.length - 1];
      const nextPageToken = deliveries.length > limit && last ? pageToken([last.webhookId]) : "";
      return { $typeName: "clearmesh.commerce.v1.ListWebhookDeliveriesResponse", deliveries: await messages(page), page: { $typeName: "clearmesh.common.v1.PageResponse", nextPageToken } };
    },

    /** Due now with a fresh round of attempts; `merchantId` undefined = any merchant's (the operator). */
    async retry(request: RetryWebhookRequest, merchantId: string | undefined): Promise<WebhookDelivery> {
      const webhookId = requireText("webhook_id", request.webhookId, 64, true);
      const delivery = await findDelivery(deps.store, webhookId);
      if (!delivery || (merchantId !== undefined && delivery.merchantId !== merchantId)) {
        throw new CommerceFailure("WEBHOOK_NOT_FOUND", `no webhook ${webhookId} visible to the caller`, { field: "webhook_id" });
      }
      await scheduleRetry(deps.store, webhookId, deps.now());
      deps.wakeWebhooks();
      const [message] = await messages([(await findDelivery(deps.store, webhookId))!]);
      return message!;
    },
  };
}

function deliveryMessage(delivery: DeliveryRecord, attempts: readonly AttemptRecord[]): WebhookDelivery {
  return create(WebhookDeliverySchema, {
    webhookId: delivery.webhookId,
    merchantId: delivery.merchantId,
    type: delivery.type,
    state: delivery.state,
    attempts: attempts.map((attempt) => ({
      attemptedAt: timestampFromMs(attempt.attemptedAtMs), httpStatus: attempt.httpStatus, error: attempt.error, durationMs: BigInt(attempt.durationMs),
    })),
    nextAttemptAt: delivery.state === WebhookDeliveryState.PENDING ? timestampFromMs(delivery.nextAttemptAtMs) : undefined,
    paymentIntentId: delivery.paymentIntentId,
  });
}

// Intent changes and the webhooks they cause commit together (the webhook outbox): a crash
// can neither lose a webhook nor announce a change that did not commit. When the merchant has a
// free webhook slot here, the webhook is written already leased to this instance and its first
// attempt starts right after the commit (webhooks/dispatcher.ts).
import type { PaymentIntentState, Refund } from "@clearmesh/contracts";
import type { Queryable, Store } from "@clearmesh/store";
import type { WebhookLease, WebhookOutlet } from "../webhooks/dispatcher.js";
import { enqueueWebhook, type DeliveryRecord } from "../webhooks/repository.js";
import { canTransition, intentEventType, intentMessage, stateName, type IntentRecord } from "./model.js";
import { transitionIntent, type IntentChanges } from "./repository.js";

export interface ChangeDeps {
  store: Store;
  now: () => number;
  newId: () => string;
  /** Where committed webhooks go (the dispatcher; absent: they wait for its next pass). */
  webhooks: () => WebhookOutlet | undefined;
}

export type IntentChangeWriter = ReturnType<typeof createIntentChanges>;

export function createIntentChanges(deps: ChangeDeps) {
  /** Writes one webhook about `intent` (and `refund`) inside the caller's transaction, leased to this instance with `lease`. */
  const writeEvent = (tx: Queryable, intent: IntentRecord, type: string, refund?: Refund, lease?: WebhookLease) =>
    enqueueWebhook(tx, { webhookId: deps.newId(), merchantId: intent.merchantId, type, paymentIntent: intentMessage(intent), refund, nowMs: deps.now() }, lease);

  return {
    writeEvent,

    /**
     * Moves an intent from `from` to `to` if it is still in `from`, with its webhook; returns the
     * intent as it is now, or undefined when another call changed it first (nothing written).
     */
    async transition(paymentIntentId: string, from: PaymentIntentState, to: PaymentIntentState, changes: IntentChanges = {}): Promise<IntentRecord | undefined> {
      if (!canTransition(from, to)) throw new Error(`no transition ${stateName(from)} → ${stateName(to)}`);
      const outlet = deps.webhooks();
      let lease: WebhookLease | undefined;
      let written: DeliveryRecord | undefined;
      let changed: IntentRecord | undefined;
      try {
        changed = await deps.store.transaction(async (tx) => {
          const intent = await transitionIntent(tx, paymentIntentId, from, to, changes, deps.now());
          if (!intent) return undefined;
          lease ??= outlet?.reserve(intent.merchantId);
          written = await writeEvent(tx, intent, intentEventType(to), undefined, lease);
          return intent;
        });
      } catch (error) {
        if (lease) outlet!.release(lease);
        throw error;
      }
      if (lease && changed && written) outlet!.launch(lease, written);
      else if (lease) outlet!.release(lease);
      if (changed && !lease) outlet?.written(changed.merchantId);
      return changed;
    },

    /** Records details while the state stays `state` (no webhook: nothing the merchant sees changed state). */
    update(paymentIntentId: string, state: PaymentIntentState, changes: IntentChanges): Promise<IntentRecord | undefined> {
      return transitionIntent(deps.store, paymentIntentId, state, state, changes, deps.now());
    },
  };
}

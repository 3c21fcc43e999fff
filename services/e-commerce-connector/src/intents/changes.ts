// Intent changes and the webhooks they cause commit together (the webhook outbox): a crash
// can neither lose a webhook nor announce a change that did not commit.
import type { PaymentIntentState, Refund } from "@clearmesh/contracts";
import type { Queryable, Store } from "@clearmesh/store";
import { enqueueWebhook } from "../webhooks/repository.js";
import { canTransition, intentEventType, intentMessage, stateName, type IntentRecord } from "./model.js";
import { transitionIntent, type IntentChanges } from "./repository.js";

export interface ChangeDeps {
  store: Store;
  now: () => number;
  newId: () => string;
  /** Tells the webhook dispatcher that new webhooks are due. */
  wakeWebhooks: () => void;
}

export type IntentChangeWriter = ReturnType<typeof createIntentChanges>;

export function createIntentChanges(deps: ChangeDeps) {
  /** Writes one webhook about `intent` (and `refund`) inside the caller's transaction. */
  const writeEvent = (tx: Queryable, intent: IntentRecord, type: string, refund?: Refund) =>
    enqueueWebhook(tx, { webhookId: deps.newId(), merchantId: intent.merchantId, type, paymentIntent: intentMessage(intent), refund, nowMs: deps.now() });

  return {
    writeEvent,

    /**
     * Moves an intent from `from` to `to` if it is still in `from`, with its webhook; returns the
     * intent as it is now, or undefined when another call changed it first (nothing written).
     */
    async transition(paymentIntentId: string, from: PaymentIntentState, to: PaymentIntentState, changes: IntentChanges = {}): Promise<IntentRecord | undefined> {
      if (!canTransition(from, to)) throw new Error(`no transition ${stateName(from)} → ${stateName(to)}`);
      const changed = await deps.store.transaction(async (tx) => {
        const intent = await transitionIntent(tx, paymentIntentId, from, to, changes, deps.now());
        if (intent) await writeEvent(tx, intent, intentEventType(to));
        return intent;
      });
      if (changed) deps.wakeWebhooks();
      return changed;
    },

    /** Records details while the state stays `state` (no webhook: nothing the merchant sees changed state). */
    update(paymentIntentId: string, state: PaymentIntentState, changes: IntentChanges): Promise<IntentRecord | undefined> {
      return transitionIntent(deps.store, paymentIntentId, state, state, changes, deps.now());
    },
  };
}

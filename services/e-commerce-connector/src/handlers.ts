// CommerceService handlers: who signed, what they may do, the domain call, and the one edge that
// turns domain refusals into the typed errors of the reason table. Signature verification (of
// participants and of merchants) happened before, in the runtime's call pipeline.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CommerceService } from "@clearmesh/contracts";
import { callerOf, requireCaller, type Directory } from "@clearmesh/runtime";
import { identify, merchantScope, requireMerchant, type CommerceCaller } from "./callers.js";
import { CommerceFailure, commerceError, invalidField } from "./errors.js";
import type { PaymentService } from "./intents/service.js";
import type { MerchantRegistry } from "./merchants/registry.js";
import type { MerchantService } from "./merchants/service.js";
import type { RefundService } from "./refunds/service.js";
import type { WebhookService } from "./webhooks/service.js";

export interface CommerceParts {
  directory: Directory;
  registry: MerchantRegistry;
  merchants: MerchantService;
  payments: PaymentService;
  refunds: RefundService;
  webhooks: WebhookService;
}

export function commerceHandlers(parts: CommerceParts): ServiceImpl<typeof CommerceService> {
  const { merchants, payments, refunds, webhooks } = parts;
  const who = (context: HandlerContext): CommerceCaller => identify(callerOf(context), parts.directory, parts.registry);
  const merchant = (context: HandlerContext, what: string) => requireMerchant(who(context), what);

  return {
    registerMerchant: (request, context) => edge(() => (requireCaller(context, ["operator"], "register merchants"), merchants.register(request))),
    createPaymentIntent: (request, context) => edge(() => payments.create(request, merchant(context, "create payment intents"))),
    getPaymentIntent: (request, context) => edge(() => payments.get(request.paymentIntentId, who(context))),
    listPaymentIntents: (request, context) => edge(() => payments.list(request, merchant(context, "list payment intents"))),
    confirmPaymentIntent: (request, context) => edge(() => {
      switch (request.paymentMethod.case) {
        case "wallet": return payments.confirmWallet(request, who(context));
        case "card": return payments.confirmCard(request, merchant(context, "confirm with a card"));
        default: throw invalidField("payment_method", "must be a wallet transfer or a card");
      }
    }),
    capturePaymentIntent: (request, context) => edge(() => payments.capture(request, merchant(context, "capture payment intents"))),
    cancelPaymentIntent: (request, context) => edge(() => payments.cancel(request, merchant(context, "cancel payment intents"))),
    refundPaymentIntent: (request, context) => edge(() => refunds.refund(request, merchant(context, "refund payment intents"))),
    listWebhookDeliveries: (request, context) => edge(() => webhooks.list(request, merchantScope(who(context), request.merchantId, "list the webhooks"))),
    retryWebhook: (request, context) => edge(() => webhooks.retry(request, merchantScope(who(context), "", "retry webhooks"))),
  };
}

/** Domain refusals (CommerceFailure) become the typed errors of the reason table. */
async function edge<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CommerceFailure) throw commerceError(error);
    throw error;
  }
}

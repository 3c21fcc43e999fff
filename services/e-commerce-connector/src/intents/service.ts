// Payment intents: create, read, list, confirm with a wallet transfer or a card, capture and
// cancel. Each call checks everything it can before changing anything, moves the intent with a
// conditional update (persisted before the external call that depends on it), then calls
// clearing or the bank-adapter as the merchant's acquirer.
import { createHash } from "node:crypto";
import {
  CaptureMethod, ParticipantKind, PaymentIntentState,
  type Authorization, type CancelPaymentIntentRequest, type CapturePaymentIntentRequest, type ConfirmPaymentIntentRequest,
  type CreatePaymentIntentRequest, type ListPaymentIntentsRequest, type ListPaymentIntentsResponse, type PaymentIntent, type Transfer,
} from "@clearmesh/contracts";
import { pageToken, type Directory, type Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { CommerceCaller } from "../callers.js";
import { CommerceFailure, invalidField } from "../errors.js";
import { classifyUpstream, type CardGateway, type ClearingGateway } from "../gateways.js";
import type { MerchantRecord } from "../merchants/registry.js";
import {
  MAX_CARD_TOKEN_CHARS, MAX_DESCRIPTION_CHARS, MAX_REASON_CHARS, MAX_REFERENCE_CHARS, pageAfter,
  pageLimit, requireId, requireMetadata, requireParticipantId, requirePositiveMoney, requireText,
} from "../validation.js";
import type { IntentChangeWriter } from "./changes.js";
import {
  captureAmount, intentMessage, money, requireState, stateFailure, walletTransferMismatch,
  type IntentAction, type IntentRecord,
} from "./model.js";
import { findIntent, insertIntent, listIntents } from "./repository.js";
import type { Settlement } from "./settlement.js";

const { REQUIRES_PAYMENT_METHOD, PROCESSING, REQUIRES_CAPTURE, SUCCEEDED, CANCELED } = PaymentIntentState;

export interface PaymentServiceDeps {
  store: Store;
  changes: IntentChangeWriter;
  settlement: Settlement;
  clearing: ClearingGateway;
  cards: CardGateway;
  directory: Directory;
  now: () => number;
  newId: () => string;
  logger: Logger;
}

export type PaymentService = ReturnType<typeof createPaymentService>;

export function createPaymentService(deps: PaymentServiceDeps) {
  const { changes, settlement } = deps;

  /** The intent, if this merchant owns it; another merchant's intent does not exist for it. */
  async function ownIntent(paymentIntentId: string, merchant: MerchantRecord): Promise<IntentRecord> {
    const intent = await findIntent(deps.store, requireId("payment_intent_id", paymentIntentId));
    if (!intent || intent.merchantId !== merchant.merchantId) throw intentNotFound(paymentIntentId);
    return intent;
  }

  /** After a lost race: a repeat of the same call answers the intent as it is; anything else is a state error. */
  async function afterRace(paymentIntentId: string, action: IntentAction, isRepeat: (intent: IntentRecord) => boolean): Promise<PaymentIntent> {
    const intent = (await findIntent(deps.store, paymentIntentId))!;
    if (isRepeat(intent)) return intentMessage(intent);
    throw stateFailure(intent, action);
  }

  return {
    async create(request: CreatePaymentIntentRequest, merchant: MerchantRecord): Promise<PaymentIntent> {
      const wanted = validIntent(request, merchant, deps.directory, deps.now());
      // In a transaction of its own, so merchants creating intents at once share commits (packages/store groupCommitting).
      if (await deps.store.transaction((tx) => insertIntent(tx, wanted))) return intentMessage(wanted);
      const existing = (await findIntent(deps.store, wanted.paymentIntentId))!;
      const field = differingField(existing, wanted);
      if (field) throw new CommerceFailure("IDEMPOTENCY_CONFLICT", `payment intent ${wanted.paymentIntentId} was created with a different ${field}`, { field });
      return intentMessage(existing);
    },

    async get(paymentIntentId: string, caller: CommerceCaller): Promise<PaymentIntent> {
      const intent = await findIntent(deps.store, requireId("payment_intent_id", paymentIntentId));
      if (!intent || !mayRead(intent, caller)) throw intentNotFound(paymentIntentId);
      return intentMessage(intent);
    },

    async list(request: ListPaymentIntentsRequest, merchant: MerchantRecord): Promise<ListPaymentIntentsResponse> {
      if (request.merchantId !== "" && request.merchantId !== merchant.merchantId) {
        throw new CommerceFailure("PERMISSION_DENIED", `${merchant.merchantId} may not list the intents of ${request.merchantId}`, { field: "merchant_id" });
      }
      if (request.state !== PaymentIntentState.UNSPECIFIED && PaymentIntentState[request.state] === undefined) throw invalidField("state", "is not a payment intent state");
      const limit = pageLimit(request.page?.pageSize);
      const after = pageAfter(request.page?.pageToken ?? "", 2);
      const intents = await listIntents(deps.store, {
        merchantId: merchant.merchantId,
        state: request.state === PaymentIntentState.UNSPECIFIED ? undefined : request.state,
        after: after ? { createdAtMs: parseCursorMs(after[0]!), paymentIntentId: after[1]! } : undefined,
        limit: limit + 1,
      });
      const page = intents.slice(0, limit);
      const last = page[page.length - 1];
      const nextPageToken = intents.length > limit && last ? pageToken([String(last.createdAtMs), last.paymentIntentId]) : "";
      return { $typeName: "clearmesh.commerce.v1.ListPaymentIntentsResponse", paymentIntents: page.map(intentMessage), page: { $typeName: "clearmesh.common.v1.PageResponse", nextPageToken } };
    },

    async confirmWallet(request: ConfirmPaymentIntentRequest, caller: CommerceCaller): Promise<PaymentIntent> {
      if (request.paymentMethod.case !== "wallet") throw invalidField("wallet", "is required");
      const providerId = requireParticipantId("wallet.provider_id", request.paymentMethod.value.providerId);
      const transferId = requireId("wallet.transfer_id", request.paymentMethod.value.transferId);
      if (caller.kind !== "participant" || caller.participantId !== providerId || caller.participantKind !== ParticipantKind.WALLET_PROVIDER) {
        throw new CommerceFailure("PERMISSION_DENIED", "a wallet payment is confirmed by its wallet provider, signing as itself", { field: "wallet.provider_id" });
      }
      const intent = await findIntent(deps.store, requireId("payment_intent_id", request.paymentIntentId));
      if (!intent) throw intentNotFound(request.paymentIntentId);
      const isRepeat = (current: IntentRecord) => current.state !== REQUIRES_PAYMENT_METHOD && current.paymentMethodType === "wallet" && current.paymentMethodKey === transferId && current.payerId === providerId;
      if (isRepeat(intent)) return intentMessage(intent);
      requireState(intent, "confirm");
      const transfer = await checkedWalletTransfer(intent, providerId, transferId);
      // Persisted before the commit: from here the sweeper can always finish or release it.
      const processing = await changes.transition(intent.paymentIntentId, REQUIRES_PAYMENT_METHOD, PROCESSING, {
        paymentMethodType: "wallet", paymentMethodDetail: providerId, paymentMethodKey: transferId, payerId: providerId,
        payerReference: transfer.payerReference, transferId, step: "confirm", failureReason: "",
      });
      if (!processing) return afterRace(intent.paymentIntentId, "confirm", isRepeat);
      return intentMessage(await authorized(processing));
    },

    async confirmCard(request: ConfirmPaymentIntentRequest, merchant: MerchantRecord): Promise<PaymentIntent> {
      if (request.paymentMethod.case !== "card") throw invalidField("card", "is required");
      const cardToken = requireText("card.card_token", request.paymentMethod.value.cardToken, MAX_CARD_TOKEN_CHARS, true);
      const intent = await ownIntent(request.paymentIntentId, merchant);
      // The token stands for the card: only its digest is kept, to recognise a repeated confirm.
      const tokenDigest = createHash("sha256").update(cardToken).digest("hex");
      const isRepeat = (current: IntentRecord) => current.state !== REQUIRES_PAYMENT_METHOD && current.paymentMethodType === "card" && current.paymentMethodKey === tokenDigest;
      if (isRepeat(intent)) return intentMessage(intent);
      requireState(intent, "confirm");
      const authorizationId = deps.newId();
      const processing = await changes.transition(intent.paymentIntentId, REQUIRES_PAYMENT_METHOD, PROCESSING, {
        paymentMethodType: "card", paymentMethodDetail: "", paymentMethodKey: tokenDigest, payerId: "", payerReference: "",
        transferId: authorizationId, step: "confirm", failureReason: "",
      });
      if (!processing) return afterRace(intent.paymentIntentId, "confirm", isRepeat);
      const authorization = await authorizeCard(processing, cardToken);
      if (!authorization) return intentMessage(processing);
      const recorded = await changes.update(intent.paymentIntentId, PROCESSING, { payerId: authorization.bankId, paymentMethodDetail: authorization.maskedPan });
      return intentMessage(await authorized(recorded ?? processing));
    },

    async capture(request: CapturePaymentIntentRequest, merchant: MerchantRecord): Promise<PaymentIntent> {
      const intent = await ownIntent(request.paymentIntentId, merchant);
      const asked = request.amount?.amountMinor;
      const isRepeat = (current: IntentRecord) => current.captureMethod === CaptureMethod.MANUAL && (
        (current.state === SUCCEEDED && (asked === undefined || asked === current.capturedMinor)) ||
        (current.state === PROCESSING && current.step === "capture" && (asked === undefined || asked === current.captureMinor)));
      if (isRepeat(intent)) return intentMessage(intent);
      requireState(intent, "capture");
      const amountMinor = captureAmount(intent, request.amount);
      const processing = await changes.transition(intent.paymentIntentId, REQUIRES_CAPTURE, PROCESSING, { step: "capture", captureMinor: amountMinor });
      if (!processing) return afterRace(intent.paymentIntentId, "capture", isRepeat);
      return intentMessage(await settlement.commitAndFinish(processing, amountMinor));
    },

    async cancel(request: CancelPaymentIntentRequest, merchant: MerchantRecord): Promise<PaymentIntent> {
      const intent = await ownIntent(request.paymentIntentId, merchant);
      const reason = requireText("reason", request.reason, MAX_REASON_CHARS) || "canceled by the merchant";
      if (intent.state === CANCELED) return intentMessage(intent);
      requireState(intent, "cancel");
      // An authorized payment is released after the cancel is recorded; until then it is owed.
      const followup = intent.state === REQUIRES_CAPTURE ? settlement.releaseOf(intent) : "";
      const canceled = await changes.transition(intent.paymentIntentId, intent.state, CANCELED, { failureReason: reason, followup, followupAttempts: 0 });
      if (!canceled) return afterRace(intent.paymentIntentId, "cancel", (current) => current.state === CANCELED);
      if (canceled.followup !== "") await settlement.runFollowup(canceled);
      return intentMessage((await findIntent(deps.store, canceled.paymentIntentId)) ?? canceled);
    },
  };

  /** Reads the wallet's transfer at clearing as the payee; any mismatch is refused before anything changes. */
  async function checkedWalletTransfer(intent: IntentRecord, providerId: string, transferId: string): Promise<Transfer> {
    let transfer: Transfer;
    try {
      transfer = await deps.clearing.getTransfer(intent.acquirerId, transferId);
    } catch (error) {
      const failure = classifyUpstream(error);
      if (failure.kind === "unknown") throw new CommerceFailure("UPSTREAM_UNAVAILABLE", "clearing did not answer; retry the confirm", {});
      // Clearing shows a transfer only to its payer and payee: not found means not to this acquirer.
      throw new CommerceFailure("TRANSFER_MISMATCH", `transfer ${transferId} is not a transfer to the merchant's acquirer ${intent.acquirerId} at clearing`, { field: "payee_id", transfer_id: transferId });
    }
    const mismatch = walletTransferMismatch(intent, providerId, transfer);
    if (mismatch) throw new CommerceFailure("TRANSFER_MISMATCH", `transfer ${transferId} ${mismatch.problem}`, { field: mismatch.field, transfer_id: transferId });
    return transfer;
  }

  /** Asks the card's bank to authorize; a refusal puts the intent back to REQUIRES_PAYMENT_METHOD and is answered. */
  async function authorizeCard(intent: IntentRecord, cardToken: string): Promise<Authorization | undefined> {
    try {
      const authorization = await deps.cards.authorize(intent.acquirerId, {
        authorizationId: intent.transferId, cardToken, amount: money(intent.currency, intent.amountMinor), merchantReference: intent.paymentIntentId,
      });
      if (authorization.amount?.amountMinor !== intent.amountMinor || authorization.amount.currency !== intent.currency) {
        throw new Error(`authorization ${intent.transferId} is for another amount`);
      }
      return authorization;
    } catch (error) {
      const failure = classifyUpstream(error);
      if (failure.kind === "unknown") {
        deps.logger.warn({ paymentIntentId: intent.paymentIntentId, err: failure.message }, "card authorization unanswered; the sweeper will settle the intent");
        return undefined;
      }
      await changes.transition(intent.paymentIntentId, PROCESSING, REQUIRES_PAYMENT_METHOD, {
        paymentMethodType: "", paymentMethodDetail: "", paymentMethodKey: "", transferId: "", step: "", failureReason: `card declined (${failure.reason})`,
      });
      if (failure.reason === "UNIMPLEMENTED") throw new CommerceFailure("UPSTREAM_UNAVAILABLE", "the bank-adapter does not take card payments yet", {});
      throw new CommerceFailure("CARD_DECLINED", `the card's bank declined the payment: ${failure.message}`, { bank_reason: failure.reason });
    }
  }

  /** The payment is authorized (a reserved transfer to the acquirer): hold it for a manual capture, or capture it in full now. */
  async function authorized(intent: IntentRecord): Promise<IntentRecord> {
    if (intent.captureMethod === CaptureMethod.MANUAL) {
      return (await changes.transition(intent.paymentIntentId, PROCESSING, REQUIRES_CAPTURE, { step: "" })) ?? (await findIntent(deps.store, intent.paymentIntentId))!;
    }
    return settlement.commitAndFinish(intent, intent.amountMinor);
  }
}

function intentNotFound(paymentIntentId: string): CommerceFailure {
  return new CommerceFailure("INTENT_NOT_FOUND", `no payment intent ${paymentIntentId} visible to the caller`, { payment_intent_id: paymentIntentId });
}

/** Its merchant and the operator always; a wallet provider while it awaits payment, or once it paid it. */
function mayRead(intent: IntentRecord, caller: CommerceCaller): boolean {
  if (caller.kind === "operator") return true;
  if (caller.kind === "merchant") return caller.merchant.merchantId === intent.merchantId;
  if (caller.participantKind !== ParticipantKind.WALLET_PROVIDER) return false;
  return intent.state === REQUIRES_PAYMENT_METHOD || (intent.paymentMethodType === "wallet" && intent.payerId === caller.participantId);
}

function validIntent(request: CreatePaymentIntentRequest, merchant: MerchantRecord, directory: Directory, nowMs: number): IntentRecord {
  const paymentIntentId = requireId("payment_intent_id", request.paymentIntentId);
  if (request.merchantId !== merchant.merchantId) {
    throw new CommerceFailure("PERMISSION_DENIED", `${merchant.merchantId} may not create intents for ${request.merchantId || "another merchant"}`, { field: "merchant_id" });
  }
  const amount = requirePositiveMoney("amount", request.amount);
  if (!(directory.get(merchant.acquirerId)?.currencies.includes(amount.currency) ?? false)) {
    throw new CommerceFailure("CURRENCY_NOT_ENABLED", `the acquirer ${merchant.acquirerId} does not take ${amount.currency}`, { field: "amount.currency" });
  }
  if (CaptureMethod[request.captureMethod] === undefined) throw invalidField("capture_method", "is not a capture method");
  return {
    paymentIntentId, merchantId: merchant.merchantId, acquirerId: merchant.acquirerId, currency: amount.currency, amountMinor: amount.amountMinor,
    state: REQUIRES_PAYMENT_METHOD,
    captureMethod: request.captureMethod === CaptureMethod.MANUAL ? CaptureMethod.MANUAL : CaptureMethod.AUTOMATIC,
    merchantReference: requireText("merchant_reference", request.merchantReference, MAX_REFERENCE_CHARS),
    description: requireText("description", request.description, MAX_DESCRIPTION_CHARS),
    metadata: requireMetadata(request.metadata),
    paymentMethodType: "", paymentMethodDetail: "", paymentMethodKey: "", payerId: "", payerReference: "", transferId: "",
    capturedMinor: 0n, refundedMinor: 0n, captureMinor: 0n, step: "", failureReason: "", followup: "", followupAttempts: 0,
    createdAtMs: nowMs, updatedAtMs: nowMs, touchedAtMs: nowMs,
  };
}

/** The first field a repeated CreatePaymentIntent changes, in request order. */
function differingField(existing: IntentRecord, wanted: IntentRecord): string | undefined {
  if (existing.merchantId !== wanted.merchantId) return "merchant_id";
  if (existing.currency !== wanted.currency) return "amount.currency";
  if (existing.amountMinor !== wanted.amountMinor) return "amount.amount_minor";
  if (existing.merchantReference !== wanted.merchantReference) return "merchant_reference";
  if (existing.description !== wanted.description) return "description";
  if (existing.captureMethod !== wanted.captureMethod) return "capture_method";
  if (JSON.stringify(existing.metadata) !== JSON.stringify(wanted.metadata)) return "metadata";
  return undefined;
}

function parseCursorMs(text: string): bigint {
  if (!/^\d{1,16}$/.test(text)) throw invalidField("page.page_token", "is not a token this server issued");
  return BigInt(text);
}

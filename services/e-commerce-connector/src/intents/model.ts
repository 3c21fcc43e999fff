// The payment intent state machine and the pure decisions around it: which calls each state
// allows, which transitions exist, what a capture or refund may take, and whether a wallet's
// prepared transfer pays this intent. No I/O here.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CaptureMethod, PaymentIntentSchema, PaymentIntentState, TransferState,
  type Money, type PaymentIntent, type Transfer,
} from "@clearmesh/contracts";
import { CommerceFailure, invalidField } from "../errors.js";

const { REQUIRES_PAYMENT_METHOD, PROCESSING, REQUIRES_CAPTURE, SUCCEEDED, CANCELED, FAILED } = PaymentIntentState;

export type PaymentMethodType = "" | "wallet" | "card";
/** What a PROCESSING intent is doing, so the sweeper knows how to finish it. */
export type ProcessingStep = "" | "confirm" | "capture";
/** What is still owed to the bank or clearing after the intent's state was decided. */
export type Followup = "" | "bank_capture" | "bank_void" | "clearing_abort";

export interface IntentRecord {
  paymentIntentId: string;
  merchantId: string;
  acquirerId: string;
  currency: string;
  amountMinor: bigint;
  state: PaymentIntentState;
  captureMethod: CaptureMethod;
  merchantReference: string;
  description: string;
  metadata: Record<string, string>;
  paymentMethodType: PaymentMethodType;
  /** The wallet provider, or the card's masked PAN. */
  paymentMethodDetail: string;
  /** What identifies the confirm call for repeats: the wallet's transfer id, or SHA-256 of the card token. */
  paymentMethodKey: string;
  /** The clearing payer: the wallet provider or the card's bank. */
  payerId: string;
  /** The payer's reference on the paying transfer (a wallet's end user), for refunds. */
  payerReference: string;
  /** The clearing transfer that pays the intent (a card's authorization id). */
  transferId: string;
  capturedMinor: bigint;
  refundedMinor: bigint;
  /** The amount CapturePaymentIntent asked for, while PROCESSING a capture. */
  captureMinor: bigint;
  step: ProcessingStep;
  failureReason: string;
  followup: Followup;
  followupAttempts: number;
  createdAtMs: number;
  updatedAtMs: number;
  touchedAtMs: number;
}

export type IntentAction = "confirm" | "capture" | "cancel" | "refund";

/** The states each merchant or wallet call may start from. */
export const ALLOWED_STATES: Record<IntentAction, readonly PaymentIntentState[]> = {
  confirm: [REQUIRES_PAYMENT_METHOD],
  capture: [REQUIRES_CAPTURE],
  cancel: [REQUIRES_PAYMENT_METHOD, REQUIRES_CAPTURE],
  refund: [SUCCEEDED],
};

/**
 * Every transition there is. PROCESSING → REQUIRES_PAYMENT_METHOD is a declined card (nothing
 * was authorized); SUCCEEDED, CANCELED and FAILED are final.
 */
export const TRANSITIONS: ReadonlyMap<PaymentIntentState, readonly PaymentIntentState[]> = new Map([
  [REQUIRES_PAYMENT_METHOD, [PROCESSING, CANCELED]],
  [PROCESSING, [REQUIRES_PAYMENT_METHOD, REQUIRES_CAPTURE, SUCCEEDED, FAILED]],
  [REQUIRES_CAPTURE, [PROCESSING, CANCELED]],
  [SUCCEEDED, []],
  [CANCELED, []],
  [FAILED, []],
]);

export function canTransition(from: PaymentIntentState, to: PaymentIntentState): boolean {
  return TRANSITIONS.get(from)?.includes(to) ?? false;
}

export function stateName(state: PaymentIntentState): string {
  return PaymentIntentState[state] ?? String(state);
}

/** The webhook type announcing that an intent entered `state`. */
export function intentEventType(state: PaymentIntentState): string {
  return `payment_intent.${stateName(state).toLowerCase()}`;
}

/** FAILED_PRECONDITION / INTENT_STATE_INVALID naming the current and the allowed states. */
export function stateFailure(intent: IntentRecord, action: IntentAction): CommerceFailure {
  const allowed = ALLOWED_STATES[action].map(stateName);
  return new CommerceFailure(
    "INTENT_STATE_INVALID",
    `cannot ${action} payment intent ${intent.paymentIntentId} in state ${stateName(intent.state)}; allowed: ${allowed.join(", ")}`,
    { state: stateName(intent.state), allowed: allowed.join(","), payment_intent_id: intent.paymentIntentId },
  );
}

export function requireState(intent: IntentRecord, action: IntentAction): void {
  if (!ALLOWED_STATES[action].includes(intent.state)) throw stateFailure(intent, action);
}

/** The amount a capture takes: all that was authorized unless a smaller amount is asked. */
export function captureAmount(intent: IntentRecord, requested: Money | undefined): bigint {
  if (!requested) return intent.amountMinor;
  if (requested.currency !== intent.currency) throw invalidField("amount.currency", `must be ${intent.currency}, the intent's currency`);
  if (requested.amountMinor <= 0n) throw invalidField("amount.amount_minor", "must be positive");
  if (requested.amountMinor > intent.amountMinor) {
    throw new CommerceFailure("CAPTURE_ABOVE_AUTHORIZED", `cannot capture ${requested.amountMinor}; ${intent.amountMinor} was authorized`, { field: "amount.amount_minor", authorized_minor: String(intent.amountMinor) });
  }
  return requested.amountMinor;
}

/** The amount a refund takes: all that is left unless a smaller amount is asked. */
export function refundAmount(intent: IntentRecord, requested: Money | undefined): bigint {
  const left = intent.capturedMinor - intent.refundedMinor;
  if (requested && requested.currency !== intent.currency) throw invalidField("amount.currency", `must be ${intent.currency}, the intent's currency`);
  if (requested && requested.amountMinor <= 0n) throw invalidField("amount.amount_minor", "must be positive");
  const amount = requested ? requested.amountMinor : left;
  if (amount <= 0n || amount > left) throw refundAboveCaptured(intent, amount);
  return amount;
}

export function refundAboveCaptured(intent: IntentRecord, amount: bigint): CommerceFailure {
  const left = intent.capturedMinor - intent.refundedMinor;
  return new CommerceFailure(
    "REFUND_ABOVE_CAPTURED",
    `cannot refund ${amount}: ${intent.capturedMinor} was captured and ${intent.refundedMinor} is already refunded or being refunded (${left} left)`,
    { field: "amount.amount_minor", captured_minor: String(intent.capturedMinor), refunded_minor: String(intent.refundedMinor) },
  );
}

/**
 * The first way a wallet's transfer fails to pay this intent, as the request field it concerns,
 * or undefined when it pays it: prepared by the provider to the merchant's acquirer, for exactly
 * the intent's amount and currency, same-currency, without a hash lock, and still RESERVED.
 */
export function walletTransferMismatch(intent: IntentRecord, providerId: string, transfer: Transfer): { field: string; problem: string } | undefined {
  if (transfer.payerId !== providerId) return { field: "payer_id", problem: `is paid by ${transfer.payerId}, not ${providerId}` };
  if (transfer.payeeId !== intent.acquirerId) return { field: "payee_id", problem: `pays ${transfer.payeeId}, not the merchant's acquirer ${intent.acquirerId}` };
  if (transfer.amount?.currency !== intent.currency) return { field: "amount.currency", problem: `is in ${transfer.amount?.currency}, not ${intent.currency}` };
  if (transfer.amount.amountMinor !== intent.amountMinor) return { field: "amount.amount_minor", problem: `is for ${transfer.amount.amountMinor}, not ${intent.amountMinor}` };
  if (transfer.fxProviderId !== "" || transfer.payeeAmount?.currency !== intent.currency) return { field: "fx_provider_id", problem: "is a cross-currency transfer" };
  if (transfer.condition.length > 0) return { field: "condition", problem: "carries a hash lock the connector cannot open" };
  if (transfer.state !== TransferState.RESERVED) return { field: "state", problem: `is ${TransferState[transfer.state]}, not RESERVED` };
  return undefined;
}

export function money(currency: string, amountMinor: bigint): Money {
  return { $typeName: "clearmesh.common.v1.Money", currency, amountMinor };
}

export function intentMessage(intent: IntentRecord): PaymentIntent {
  return create(PaymentIntentSchema, {
    paymentIntentId: intent.paymentIntentId,
    merchantId: intent.merchantId,
    amount: money(intent.currency, intent.amountMinor),
    state: intent.state,
    merchantReference: intent.merchantReference,
    transferId: intent.transferId,
    createdAt: timestampFromMs(intent.createdAtMs),
    description: intent.description,
    captureMethod: intent.captureMethod,
    metadata: intent.metadata,
    paymentMethodType: intent.paymentMethodType,
    paymentMethodDetail: intent.paymentMethodDetail,
    captured: money(intent.currency, intent.capturedMinor),
    refunded: money(intent.currency, intent.refundedMinor),
    failureReason: intent.failureReason,
    updatedAt: timestampFromMs(intent.updatedAtMs),
    acquirerId: intent.acquirerId,
  });
}

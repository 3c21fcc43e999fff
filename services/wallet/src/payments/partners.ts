// The wallet's calls to the bank-adapter (mandates, pulls) and the e-commerce connector (payment
// intents), signed with the hosted provider's key, answers verified as those services'. Outcomes
// as for clearing (clearing.ts): ok, a definite refusal, or unknown.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  BankAdapterService, CommerceService, ConfirmPaymentIntentRequestSchema, Mandate, PaymentIntent, Pull, PullFundsRequestSchema, RequestMandateRequestSchema,
} from "@clearmesh/contracts";
import type { SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";
import { outcomeOfError, type Outcome } from "./clearing.js";

export interface BankGateway {
  requestMandate(providerId: string, request: MessageInitShape<typeof RequestMandateRequestSchema>): Promise<Outcome<Mandate>>;
  confirmMandate(providerId: string, mandateId: string, code: string): Promise<Outcome<Mandate>>;
  pullFunds(providerId: string, request: MessageInitShape<typeof PullFundsRequestSchema>): Promise<Outcome<Pull>>;
}

export interface CommerceGateway {
  getPaymentIntent(providerId: string, paymentIntentId: string): Promise<Outcome<PaymentIntent>>;
  confirmPaymentIntent(providerId: string, request: MessageInitShape<typeof ConfirmPaymentIntentRequestSchema>): Promise<Outcome<PaymentIntent>>;
}

function signerFor(hostedKeys: ReadonlyMap<string, SigningKey>, deadlineMs: number) {
  return (providerId: string) => {
    const signer = hostedKeys.get(providerId);
    if (!signer) throw new Error(`no key for hosted provider ${providerId}`);
    return { signer, deadlineMs };
  };
}

async function call<T>(work: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { kind: "ok", value: await work() };
  } catch (error) {
    return outcomeOfError(error);
  }
}

export function bankGateway(bank: SignedClient<typeof BankAdapterService>, hostedKeys: ReadonlyMap<string, SigningKey>, deadlineMs: number): BankGateway {
  const as = signerFor(hostedKeys, deadlineMs);
  return {
    requestMandate: (providerId, request) => call(() => bank.requestMandate(request, as(providerId))),
    confirmMandate: (providerId, mandateId, code) => call(() => bank.confirmMandate({ mandateId, code }, as(providerId))),
    pullFunds: (providerId, request) => call(() => bank.pullFunds(request, as(providerId))),
  };
}

export function commerceGateway(commerce: SignedClient<typeof CommerceService>, hostedKeys: ReadonlyMap<string, SigningKey>, deadlineMs: number): CommerceGateway {
  const as = signerFor(hostedKeys, deadlineMs);
  return {
    getPaymentIntent: (providerId, paymentIntentId) => call(() => commerce.getPaymentIntent({ paymentIntentId }, as(providerId))),
    confirmPaymentIntent: (providerId, request) => call(() => commerce.confirmPaymentIntent(request, as(providerId))),
  };
}

// What the connector asks of clearing and the bank-adapter, always signed as the merchant's
// acquirer (the payee of payments, the payer of refunds). The domain sees only these
// interfaces; the composition root builds them over signed gRPC clients.
import type { Authorization, BankAdapterService, ClearingService, Money, Transfer } from "@clearmesh/contracts";
import { Code, errorReason, type SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";

/** A push payment from the acquirer (refunds). */
export interface AcquirerTransfer {
  transferId: string;
  payeeId: string;
  amount: Money;
  payerReference: string;
  payeeReference: string;
}

export interface CardAuthorizationInput {
  authorizationId: string;
  cardToken: string;
  amount: Money;
  merchantReference: string;
}

export interface CardRefundInput {
  refundId: string;
  authorizationId: string;
  amount: Money;
  transferId: string;
}

export interface ClearingGateway {
  getTransfer(acquirerId: string, transferId: string): Promise<Transfer>;
  /** Commits a prepared transfer as its payee; `amount` below the prepared amount commits part of it. */
  commitTransfer(acquirerId: string, transferId: string, amount: Money): Promise<Transfer>;
  abortTransfer(acquirerId: string, transferId: string, reason: string): Promise<Transfer>;
  createTransfer(acquirerId: string, request: AcquirerTransfer): Promise<Transfer>;
}

export interface CardGateway {
  authorize(acquirerId: string, request: CardAuthorizationInput): Promise<Authorization>;
  capture(acquirerId: string, authorizationId: string, amount: Money): Promise<Authorization>;
  void(acquirerId: string, authorizationId: string): Promise<Authorization>;
  refund(acquirerId: string, request: CardRefundInput): Promise<Authorization>;
}

/** How an upstream call ended when it did not answer normally. */
export type UpstreamFailure =
  /** A definitive answer: nothing happened upstream (a business refusal). */
  | { kind: "refused"; code: Code; reason: string; message: string }
  /** No definitive answer (unreachable, deadline, internal error): it may or may not have happened. */
  | { kind: "unknown"; code: Code; message: string };

/** Codes that mean the upstream service decided and changed nothing. */
const REFUSAL_CODES: ReadonlySet<Code> = new Set([
  Code.InvalidArgument, Code.NotFound, Code.AlreadyExists, Code.PermissionDenied, Code.FailedPrecondition, Code.OutOfRange, Code.Unimplemented,
]);

export function classifyUpstream(error: unknown): UpstreamFailure {
  const code = (error as { code?: unknown }).code;
  const message = (error as { details?: string; message?: string }).details ?? (error as Error).message ?? String(error);
  if (typeof code === "number" && REFUSAL_CODES.has(code as Code)) {
    return { kind: "refused", code: code as Code, reason: errorReason(error) ?? Code[code as Code] ?? "REFUSED", message };
  }
  return { kind: "unknown", code: typeof code === "number" ? (code as Code) : Code.Unknown, message };
}

export interface GatewayOptions {
  clearing: SignedClient<typeof ClearingService>;
  bank: SignedClient<typeof BankAdapterService>;
  /** The hosted acquirers' keys. */
  acquirerKeys: ReadonlyMap<string, SigningKey>;
  deadlineMs: number;
}

export function createGateways(options: GatewayOptions): { clearing: ClearingGateway; cards: CardGateway } {
  const as = (acquirerId: string) => {
    const signer = options.acquirerKeys.get(acquirerId);
    // Merchants are only registered with hosted acquirers; a missing key is a wiring bug.
    if (!signer) throw new Error(`acquirer ${acquirerId} is not hosted by this connector`);
    return { signer, deadlineMs: options.deadlineMs };
  };
  const { clearing, bank } = options;
  return {
    clearing: {
      getTransfer: (acquirerId, transferId) => clearing.getTransfer({ transferId }, as(acquirerId)),
      commitTransfer: (acquirerId, transferId, amount) => clearing.commitTransfer({ transferId, amount }, as(acquirerId)),
      abortTransfer: (acquirerId, transferId, reason) => clearing.abortTransfer({ transferId, reason }, as(acquirerId)),
      createTransfer: (acquirerId, request) => clearing.createTransfer({ ...request, payerId: acquirerId }, as(acquirerId)),
    },
    cards: {
      authorize: (acquirerId, request) => bank.authorizeCard({ ...request, acquirerId }, as(acquirerId)),
      capture: (acquirerId, authorizationId, amount) => bank.captureAuthorization({ authorizationId, amount }, as(acquirerId)),
      void: (acquirerId, authorizationId) => bank.voidAuthorization({ authorizationId }, as(acquirerId)),
      refund: (acquirerId, request) => bank.refundCapture(request, as(acquirerId)),
    },
  };
}

// BankAdapterService handlers: who is calling, then the domain; its refusals (BankError) become
// the typed errors of the one reason table (errors.ts). The settlement bank's method lives in
// settlement/handlers.ts.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { BankAdapterService } from "@clearmesh/contracts";
import { callerOf, type Caller, type Logger } from "@clearmesh/runtime";
import type { AccountService } from "./accounts/service.js";
import type { SuspenseService } from "./accounts/suspense.js";
import type { AuthorizationService } from "./cards/authorizations.js";
import type { createCardVault } from "./cards/vault.js";
import { BankError, toRpcError } from "./errors.js";
import type { MandateService } from "./mandates/service.js";
import type { PullService } from "./pulls/service.js";

export interface BankParts {
  accounts: AccountService;
  suspense: SuspenseService;
  mandates: MandateService;
  pulls: PullService;
  vault: ReturnType<typeof createCardVault>;
  authorizations: AuthorizationService;
  logger: Logger;
}

type BankMethods = Omit<ServiceImpl<typeof BankAdapterService>, "getSettlementAccount">;

export function bankHandlers(parts: BankParts): BankMethods {
  const { accounts, suspense, mandates, pulls, vault, authorizations } = parts;
  /** Runs the domain for the verified caller and maps its refusals. */
  const edge = <R>(context: HandlerContext, work: (caller: Caller) => Promise<R>): Promise<R> => {
    const caller = callerOf(context);
    return work(caller).catch((error: unknown) => {
      if (!(error instanceof BankError)) parts.logger.error({ method: context.method.name, err: (error as Error)?.message }, "unexpected failure");
      throw toRpcError(error);
    });
  };
  return {
    openAccount: (request, context) => edge(context, (caller) => accounts.open(request, caller)),
    getAccount: (request, context) => edge(context, (caller) => accounts.get(request, caller)),
    depositCash: (request, context) => edge(context, (caller) => accounts.deposit(request, caller)),
    getStatement: (request, context) => edge(context, (caller) => accounts.statement(request, caller)),
    requestMandate: (request, context) => edge(context, (caller) => mandates.request(request, caller)),
    confirmMandate: (request, context) => edge(context, (caller) => mandates.confirm(request, caller)),
    revokeMandate: (request, context) => edge(context, (caller) => mandates.revoke(request, caller)),
    pullFunds: (request, context) => edge(context, (caller) => pulls.pull(request, caller)),
    tokenizeCard: (request, context) => edge(context, (caller) => vault.tokenize(request, caller)),
    authorizeCard: (request, context) => edge(context, (caller) => authorizations.authorize(request, caller)),
    captureAuthorization: (request, context) => edge(context, (caller) => authorizations.capture(request, caller)),
    voidAuthorization: (request, context) => edge(context, (caller) => authorizations.void(request, caller)),
    refundCapture: (request, context) => edge(context, (caller) => authorizations.refund(request, caller)),
    listSuspensePostings: (request, context) => edge(context, (caller) => suspense.list(request, caller)),
    resolveSuspensePosting: (request, context) => edge(context, (caller) => suspense.resolve(request, caller)),
  };
}

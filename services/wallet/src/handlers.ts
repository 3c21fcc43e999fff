// WalletService handlers: authenticate (a bearer session for user methods, the cm-* signature
// for GetProviderBooks), call the domain, map refusals through the reason table. Methods not
// built are left out, so they answer UNIMPLEMENTED.
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ConfirmTotpResponseSchema, LogoutResponseSchema, type WalletService } from "@clearmesh/contracts";
import { callerOf, rpcError, Code, type Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { providerBooks } from "./books/report.js";
import { WalletError, walletError } from "./errors.js";
import { notificationPreferences, setNotificationPreferences } from "./notifications/notify.js";
import type { BankLinkService } from "./payments/bank.js";
import type { IntentPaymentService } from "./payments/intents.js";
import type { SendService } from "./payments/send.js";
import { balances, getTransaction, listTransactions } from "./statements.js";
import { eraseUser } from "./users/erasure.js";
import { callerKeyOf } from "./users/rate-limit.js";
import type { Session, UserService } from "./users/service.js";
import { requireCurrency } from "./validation.js";

/** Methods that authenticate a person, not a system (PROTOCOL.md §8): no cm-* signature. */
export const UNSIGNED_METHODS = [
  "RegisterUser", "Login", "Logout", "ChangePassword", "EnrollTotp", "ConfirmTotp", "GetBalances", "ListTransactions", "GetTransaction",
  "QuoteSend", "SendMoney", "SetNotificationPreferences", "GetNotificationPreferences", "EraseUser",
  "LinkBankAccount", "ConfirmBankAccount", "ListBankAccounts", "TopUp", "Withdraw", "PayPaymentIntent",
] as const;

export interface WalletParts {
  store: Store;
  dataKeys: DataKeyRing;
  users: UserService;
  payments: SendService;
  bankLinks: BankLinkService;
  intents: IntentPaymentService;
  providers: readonly string[];
  now: () => number;
  logger: Logger;
}

export function walletHandlers(parts: WalletParts): Partial<ServiceImpl<typeof WalletService>> {
  const { store, dataKeys, users, payments, bankLinks, intents } = parts;
  const session = (context: HandlerContext): Promise<Session> => users.authenticate(context.requestHeader.get("authorization"));
  return {
    registerUser: (request, context) => edge(() => users.register(request, callerKeyOf((name) => context.requestHeader.get(name)))),
    login: (request) => edge(() => users.login(request)),
    logout: (_request, context) => edge(async () => {
      await users.logout(await session(context));
      return create(LogoutResponseSchema, {});
    }),
    changePassword: (request, context) => edge(async () => users.changePassword(await session(context), request)),
    enrollTotp: (_request, context) => edge(async () => users.enrollTotp(await session(context))),
    confirmTotp: (request, context) => edge(async () => {
      await users.confirmTotp(await session(context), request.code);
      return create(ConfirmTotpResponseSchema, {});
    }),
    getBalances: (_request, context) => edge(async () => balances(store, await session(context))),
    listTransactions: (request, context) => edge(async () => listTransactions(store, dataKeys, await session(context), request)),
    getTransaction: (request, context) => edge(async () => getTransaction(store, dataKeys, await session(context), request.transactionId)),
    quoteSend: (request, context) => edge(async () => payments.quote(await session(context), request)),
    sendMoney: (request, context) => edge(async () => payments.send(await session(context), request)),
    setNotificationPreferences: (request, context) => edge(async () => setNotificationPreferences(store, (await session(context)).userId, request)),
    getNotificationPreferences: (_request, context) => edge(async () => notificationPreferences(store, (await session(context)).userId)),
    eraseUser: (request, context) => edge(async () => eraseUser({ store, users, now: parts.now, logger: parts.logger }, await session(context), request.password)),
    linkBankAccount: (request, context) => edge(async () => bankLinks.link(await session(context), request)),
    confirmBankAccount: (request, context) => edge(async () => bankLinks.confirm(await session(context), request)),
    listBankAccounts: (_request, context) => edge(async () => bankLinks.list(await session(context))),
    topUp: (request, context) => edge(async () => bankLinks.topUp(await session(context), request)),
    withdraw: (request, context) => edge(async () => bankLinks.withdraw(await session(context), request)),
    payPaymentIntent: (request, context) => edge(async () => intents.pay(await session(context), request)),
    getProviderBooks: (request, context) => edge(async () => {
      const caller = callerOf(context);
      const providerId = users.providerOf(request.providerId === "" ? "-" : request.providerId);
      if (caller.participantId !== providerId && caller.participantId !== "operator") {
        throw rpcError(Code.PermissionDenied, "PERMISSION_DENIED", `${caller.participantId} may not read the books of ${providerId}`, { field: "provider_id" });
      }
      return providerBooks(store, providerId, requireCurrency("currency", request.currency));
    }),
  };
}

/** Domain refusals (WalletError) become the typed errors of the reason table. */
async function edge<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof WalletError) throw walletError(error.reason, error.message, error.metadata);
    throw error;
  }
}

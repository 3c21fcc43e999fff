// The wallet's composition: it boots with its identity, store, NATS and directory copy, loads the
// keys of the wallet providers it hosts (it signs their calls to clearing), and builds
// - users, sessions and the second factor (users/),
// - the books and payments: local and cross-provider transfers, quotes, linked bank accounts,
//   top-ups, withdrawals and payment intents (payments/, books/),
// - the consumers of clearing's transfer events that credit incoming money (payments/events.ts),
// - the reconciler that settles holds whose outcome is unknown (payments/reconciler.ts),
// - the registrar that registers users' aliases at clearing (aliases/registrar.ts),
// - notifications through the outbox (notifications/).
import { groupCommitting } from "@clearmesh/store";
import path from "node:path";
import { BankAdapterService, CommerceService, WalletService, clearmeshFiles } from "@clearmesh/contracts";
import { createSignedClient, loadHostedKeys, registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { startAliasRegistrar } from "./aliases/registrar.js";
import { UNSIGNED_METHODS, walletHandlers } from "./handlers.js";
import { walletMigrations } from "./migrations.js";
import { createNotifier } from "./notifications/notify.js";
import { TransferBookings } from "./payments/bookings.js";
import { clearingGateway, type ClearingGateway } from "./payments/clearing.js";
import { createBankLinkService } from "./payments/bank.js";
import { startTransferConsumers } from "./payments/events.js";
import { createIntentPaymentService } from "./payments/intents.js";
import { bankGateway, commerceGateway, type BankGateway, type CommerceGateway } from "./payments/partners.js";
import { startReconciler } from "./payments/reconciler.js";
import { createSendService } from "./payments/send.js";
import type { WalletSettings } from "./settings.js";
import { loadCommonPasswords } from "./users/passwords.js";
import { RateLimiter } from "./users/rate-limit.js";
import { createUserService } from "./users/service.js";

export interface WalletOptions {
  logger?: Logger;
  now?: () => number;
  /** Replaces the real clearing client (tests of unanswered calls). */
  clearing?: ClearingGateway;
  /** Replaces the real bank-adapter client. */
  bank?: BankGateway;
  /** Replaces the real e-commerce connector client. */
  commerce?: CommerceGateway;
}

export async function startWallet(settings: WalletSettings, options: WalletOptions = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  const providers = settings.hostedParticipants.split(",");
  const hostedKeys = loadHostedKeys(path.join(settings.dataDir, "keys"), providers, settings.hostedKeyIds);
  const commonPasswords = loadCommonPasswords();
  return startService({
    name: "wallet",
    settings,
    migrations: walletMigrations,
    logger: options.logger,
    async build({ logger, store, nc, directory, identity, outbox, metrics, clearing, clientTls }) {
      // Intent payments' holds and bookings, the reconciler's and the consumers' events share
      // commits on SQLite (packages/store groupCommitting): every transaction here is safe to run
      // again (effects only through `tx`, refusals returned, not thrown).
      const commits = groupCommitting(store);
      logger.info({ hosted: providers }, "hosting participants");
      const deadlineMs = settings.clearingCallDeadlineMs;
      const gateway = options.clearing ?? clearingGateway(clearing!, hostedKeys, deadlineMs);
      const bankClient = createSignedClient(BankAdapterService, { address: settings.bankAdapterAddress, responseKeys: directory.lookupKey, expectedResponder: "bank-adapter", tls: clientTls });
      const commerceClient = createSignedClient(CommerceService, { address: settings.commerceAddress, responseKeys: directory.lookupKey, expectedResponder: "e-commerce-connector", tls: clientTls });
      const bank = options.bank ?? bankGateway(bankClient, hostedKeys, deadlineMs);
      const commerce = options.commerce ?? commerceGateway(commerceClient, hostedKeys, deadlineMs);
      const wake = () => outbox.notify();
      const { dataKeys, notifyDataKeys } = settings;
      const notifier = createNotifier({ identity, dataKeys, notifyDataKeys, now });
      const registrar = startAliasRegistrar({ store, dataKeys, clearing: gateway, intervalMs: settings.reconcileIntervalMs, now, logger });
      const users = createUserService({
        store, dataKeys, providers, commonPasswords, scryptCost: settings.passwordScryptCost, sessionTtlMs: settings.sessionTtlMs,
        maxFailedAttempts: settings.loginMaxFailedAttempts, lockoutMs: settings.loginLockoutMs, totpIssuer: settings.totpIssuer,
        registrations: new RateLimiter({ perCallerPerMinute: settings.registrationsPerCallerPerMinute, totalPerMinute: settings.registrationsPerMinute, now }),
        now, logger, onRegistered: () => registrar.wake(),
      });
      const { holdTimeoutMs } = settings;
      const payments = createSendService({ store, dataKeys, clearing: gateway, notifier, holdTimeoutMs, now, logger, wake });
      const bankLinks = createBankLinkService({ store, dataKeys, bank, clearing: gateway, notifier, send: payments, holdTimeoutMs, now, logger, wake });
      const bookings = new TransferBookings();
      const intents = createIntentPaymentService({ store: commits.store, dataKeys, clearing: gateway, commerce, notifier, holdTimeoutMs, paymentTransferTtlMs: settings.paymentTransferTtlMs, now, logger, wake, bookings });
      const reconciler = startReconciler({
        store: commits.store, clearing: gateway, notifier, holdTimeoutMs, intervalMs: settings.reconcileIntervalMs, now, logger, wake,
        resolveTopUp: (movement) => bankLinks.resolveTopUp(movement), paymentStillDeciding: (movement) => intents.connectorStillDeciding(movement),
      });
      const consumers = startTransferConsumers({
        nc, store: commits.store, directory, metrics, hostedProviders: new Set(providers), dataKeys, notifier, logger, now, wake, bookings,
      });
      return {
        registrations: [registration(WalletService, walletHandlers({ store, dataKeys, users, payments, bankLinks, intents, providers, now, logger }), { unsignedMethods: UNSIGNED_METHODS })],
        files: clearmeshFiles,
        ready: consumers.ready,
        async stop() {
          await reconciler.stop();
          await registrar.stop();
          await consumers.stop();
          await commits.close();
          bankClient.close();
          commerceClient.close();
        },
      };
    },
  });
}

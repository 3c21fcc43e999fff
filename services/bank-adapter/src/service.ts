// The bank adapter's composition: it boots with its identity, store, NATS and directory copy,
// loads the keys of the banks it hosts (it signs their clearing calls), and builds
// - the banks' customer accounts, mandates, pulls, card vault and authorizations (handlers.ts),
// - the transfer consumers that credit incoming money and back up captures and pulls,
// - the sweeper that settles what unanswered clearing calls left open,
// - the settlement bank's books (settlement/).
import path from "node:path";
import { BankAdapterService, clearmeshFiles } from "@clearmesh/contracts";
import { loadHostedKeys, registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { createAccountService } from "./accounts/service.js";
import { createSuspenseService } from "./accounts/suspense.js";
import { createAuthorizationService } from "./cards/authorizations.js";
import { createCardVault } from "./cards/vault.js";
import { clearingGateway, type ClearingGateway } from "./clearing.js";
import { bankHandlers } from "./handlers.js";
import { createMandateService } from "./mandates/service.js";
import { bankAdapterMigrations } from "./migrations.js";
import { createPullService } from "./pulls/service.js";
import { startSettlementBank } from "./settlement/consumers.js";
import { settlementHandlers } from "./settlement/handlers.js";
import type { BankAdapterSettings } from "./settings.js";
import { startSweeper } from "./sweeper.js";
import { startTransferConsumers } from "./transfers/consumers.js";

export interface BankAdapterOptions {
  logger?: Logger;
  now?: () => number;
  /** Replaces the real clearing client (tests of unanswered calls). */
  clearing?: ClearingGateway;
}

export async function startBankAdapter(settings: BankAdapterSettings, options: BankAdapterOptions = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  const hostedBanks = settings.hostedParticipants.split(",");
  const hostedKeys = loadHostedKeys(path.join(settings.dataDir, "keys"), hostedBanks, settings.hostedKeyIds);
  return startService({
    name: "bank-adapter",
    settings,
    migrations: bankAdapterMigrations,
    logger: options.logger,
    async build({ logger, store, nc, directory, identity, outbox, metrics, clearing }) {
      logger.info({ hosted: [...hostedKeys.keys()] }, "hosting participants");
      const gateway = options.clearing ?? clearingGateway(clearing!, hostedKeys);
      const accounts = createAccountService({ store, dataKeys: settings.dataKeys, hostedBanks: new Set(hostedBanks), now, logger });
      const suspense = createSuspenseService({ store, accounts, hostedBanks: new Set(hostedBanks), now });
      const mandates = createMandateService({
        store, accounts, identity, outbox, notifyDataKeys: settings.notifyDataKeys, codeTtlMs: settings.mandateCodeTtlMs,
        maxCodeAttempts: settings.mandateCodeAttempts, now, logger,
      });
      const pulls = createPullService({ store, clearing: gateway, now, logger });
      const vault = createCardVault({ store, dataKeys: settings.dataKeys, now, logger });
      const authorizations = createAuthorizationService({ store, clearing: gateway, authorizationTtlMs: settings.authorizationTtlMs, now, logger });
      const settlementBank = startSettlementBank({ nc, store, directory, identity, outbox, metrics, logger, now });
      const transfers = startTransferConsumers({ nc, store, directory, outbox, metrics, logger, hostedBanks: new Set(hostedBanks), now });
      const sweeper = startSweeper({ store, pulls, authorizations, now, logger });
      return {
        registrations: [registration(BankAdapterService, {
          ...settlementHandlers(store), ...bankHandlers({ accounts, suspense, mandates, pulls, vault, authorizations, logger }),
        })],
        files: clearmeshFiles,
        ready: Promise.all([settlementBank.ready, transfers.ready]).then(() => undefined),
        async stop() {
          await sweeper.stop();
          await transfers.stop();
          await settlementBank.stop();
        },
      };
    },
  });
}

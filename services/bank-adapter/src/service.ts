// The bank adapter. It boots with its identity, store, NATS and directory copy, loads the keys of
// the participants it hosts, and keeps the settlement bank's books (settlement/): settlement
// accounts that follow clearing's liquidity events, and the execution of settlement instructions.
// Methods not built yet answer UNIMPLEMENTED.
import path from "node:path";
import { BankAdapterService, clearmeshFiles } from "@clearmesh/contracts";
import { loadHostedKeys, registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { bankAdapterMigrations } from "./migrations.js";
import { startSettlementBank } from "./settlement/consumers.js";
import { settlementHandlers } from "./settlement/handlers.js";
import type { BankAdapterSettings } from "./settings.js";

export async function startBankAdapter(settings: BankAdapterSettings, options: { logger?: Logger; now?: () => number } = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  const hostedKeys = loadHostedKeys(path.join(settings.dataDir, "keys"), settings.hostedParticipants.split(","));
  return startService({
    name: "bank-adapter",
    settings,
    migrations: bankAdapterMigrations,
    logger: options.logger,
    async build({ logger, store, nc, directory, identity, outbox, metrics }) {
      logger.info({ hosted: [...hostedKeys.keys()] }, "hosting participants");
      const settlementBank = startSettlementBank({ nc, store, directory, identity, outbox, metrics, logger, now });
      return {
        registrations: [registration(BankAdapterService, { ...settlementHandlers(store) })],
        files: clearmeshFiles,
        ready: settlementBank.ready,
        stop: () => settlementBank.stop(),
      };
    },
  });
}

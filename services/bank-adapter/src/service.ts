// The bank adapter: a skeleton for now. It boots with its identity, store, NATS and directory copy, loads
// the keys of the participants it hosts, and answers UNIMPLEMENTED for methods not built yet.
import path from "node:path";
import { BankAdapterService, clearmeshFiles } from "@clearmesh/contracts";
import { loadHostedKeys, registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import type { BankAdapterSettings } from "./settings.js";

export async function startBankAdapter(settings: BankAdapterSettings, options: { logger?: Logger } = {}): Promise<RunningService> {
  const hostedKeys = loadHostedKeys(path.join(settings.dataDir, "keys"), settings.hostedParticipants.split(","));
  return startService({
    name: "bank-adapter",
    settings,
    migrations: [],
    logger: options.logger,
    async build({ logger }) {
      logger.info({ hosted: [...hostedKeys.keys()] }, "hosting participants");
      return {
        registrations: [registration(BankAdapterService, {})],
        files: clearmeshFiles,
      };
    },
  });
}

// The notifier: a skeleton for now. It boots with its identity, store, NATS and directory copy,
// and answers UNIMPLEMENTED for methods not built yet.
import { NotifierService, clearmeshFiles } from "@clearmesh/contracts";
import { registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import type { NotifierSettings } from "./settings.js";

export async function startNotifier(settings: NotifierSettings, options: { logger?: Logger } = {}): Promise<RunningService> {
  return startService({
    name: "notifier",
    settings,
    migrations: [],
    logger: options.logger,
    async build() {
      return {
        registrations: [registration(NotifierService, {})],
        files: clearmeshFiles,
      };
    },
  });
}

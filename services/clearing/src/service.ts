// Clearing's composition: the directory and transfer services over the runtime's real parts.
import { ClearingService, ParticipantKind, clearmeshFiles } from "@clearmesh/contracts";
import { registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { toHex } from "@clearmesh/trust";
import { createDirectoryService } from "./directory/service.js";
import { createEventWriter } from "./events.js";
import { clearingHandlers } from "./handlers.js";
import { clearingMigrations } from "./migrations.js";
import type { ClearingSettings } from "./settings.js";
import { createTransferService } from "./transfers/service.js";

export async function startClearing(settings: ClearingSettings, options: { logger?: Logger; now?: () => number } = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  return startService({
    name: "clearing",
    settings,
    migrations: clearingMigrations,
    logger: options.logger,
    async build({ store, directory, identity, outbox, logger }) {
      const anchor = settings.clearingPublicKey;
      if (anchor.keyId !== identity.keyId || toHex(anchor.publicKey) !== toHex(identity.publicKey)) {
        throw new Error(`IDENTITY_KEY_FILE ${settings.identityKeyFile} does not match CLEARING_PUBLIC_KEY (${anchor.keyId})`);
      }
      const writeEvent = createEventWriter(identity, now);
      const notifyOutbox = () => outbox.notify();
      const directoryService = createDirectoryService({ store, directory, writeEvent, notifyOutbox, now, logger });
      await directoryService.start([
        { participantId: "operator", name: "Scheme operator", kind: ParticipantKind.OPERATOR, ...settings.operatorPublicKey },
        { participantId: "clearing", name: "Clearing service", kind: ParticipantKind.SERVICE, keyId: identity.keyId, publicKey: identity.publicKey },
      ]);
      const transfers = createTransferService({ store, directory, writeEvent, notifyOutbox, now, maxBatchTransfers: settings.maxBatchTransfers });
      return {
        registrations: [registration(ClearingService, clearingHandlers(directoryService, transfers))],
        files: clearmeshFiles,
        stop: () => transfers.close(),
      };
    },
  });
}

// Clearing's composition: the directory, the engine and the services over it, and the
// leadership that makes one instance active per store while others wait as hot standbys.
import { ClearingService, ParticipantKind, clearmeshFiles } from "@clearmesh/contracts";
import { registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { waitForLeaderLock, type LeaderLock } from "@clearmesh/store";
import { toHex } from "@clearmesh/trust";
import type { RunningConsumer } from "@clearmesh/bus";
import { createDirectoryService } from "./directory/service.js";
import { ClearingEngine } from "./engine/engine.js";
import { createEventWriter, createEventSealer } from "./events.js";
import { clearingHandlers } from "./handlers.js";
import { createLiquidityService } from "./liquidity/service.js";
import { createPartyService } from "./parties/service.js";
import { createFxRateService } from "./quotes/rates.js";
import { createQuoteService } from "./quotes/service.js";
import { clearingMigrations } from "./migrations.js";
import { RequestBook } from "./requests.js";
import type { ClearingSettings } from "./settings.js";
import { createSettlementService, startSettlementConsumer } from "./settlement/service.js";
import { createTransferService } from "./transfers/service.js";

const INBOX_POLL_MS = 1_000;

export async function startClearing(settings: ClearingSettings, options: { logger?: Logger; now?: () => number } = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  return startService({
    name: "clearing",
    settings,
    migrations: clearingMigrations,
    logger: options.logger,
    async build({ store, directory, identity, outbox, logger, nc, metrics }) {
      const anchor = settings.clearingPublicKey;
      if (anchor.keyId !== identity.keyId || toHex(anchor.publicKey) !== toHex(identity.publicKey)) {
        throw new Error(`IDENTITY_KEY_FILE ${settings.identityKeyFile} does not match CLEARING_PUBLIC_KEY (${anchor.keyId})`);
      }
      const writeEvent = createEventWriter(identity, now);
      const notifyOutbox = () => outbox.notify();
      const directoryService = createDirectoryService({ store, directory, writeEvent, notifyOutbox, now, logger });
      const participants = { get: (participantId: string) => directory.get(participantId) };
      const engine = new ClearingEngine({
        store, participants, policy: { thresholdPercent: settings.positionThresholdPercent }, sealEvents: createEventSealer(identity, now), notifyOutbox, now, logger,
        maxPendingOperations: settings.maxPendingOperations, answersPerTurn: settings.answersPerTurn,
      });
      const requests = new RequestBook(store, engine);
      const fxRates = createFxRateService({ store, participants, now, logger });
      const quotes = createQuoteService({ store, participants, rates: fxRates, feeSchedule: settings.feeSchedule, quoteTtlMs: settings.quoteTtlMs, now, logger });
      const parties = createPartyService({ store, participants, now, logger });
      const transfers = createTransferService({
        store, engine, participants, feeSchedule: settings.feeSchedule, now, logger, maxExpiryMs: settings.maxTransferExpiryMs,
        expiryCheckMs: settings.expiryCheckMs, findQuote: (quoteId) => quotes.findQuote(quoteId),
      });
      const liquidity = createLiquidityService({ engine, requests, participants });
      const settlement = createSettlementService({ store, engine, requests, now, logger });

      await directoryService.load();
      const stops: Array<() => Promise<unknown> | unknown> = [];
      const leadership = new AbortController();
      const ready = (async () => {
        const lock: LeaderLock = await waitForLeaderLock(store, "clearing-engine", { pollMs: settings.leaderPollMs, signal: leadership.signal });
        stops.push(() => lock.release());
        lock.onLost((reason) => {
          // Another instance may now write: this one must stop at once rather than diverge.
          logger.fatal({ err: reason.message }, "lost the clearing leader lock; exiting");
          process.exit(70);
        });
        logger.info("active clearing instance");
        await directoryService.start([
          { participantId: "operator", name: "Scheme operator", kind: ParticipantKind.OPERATOR, ...settings.operatorPublicKey },
          { participantId: "clearing", name: "Clearing service", kind: ParticipantKind.SERVICE, keyId: identity.keyId, publicKey: identity.publicKey },
        ]);
        await engine.start();
        stops.push(transfers.startExpiry());
        const drain = () => void settlement.drainInbox().catch((error: Error) => logger.warn({ err: error.message }, "settlement inbox drain failed; will retry"));
        const consumer: RunningConsumer = await startSettlementConsumer({ nc, store, directory, metrics, logger, onStored: drain, now });
        stops.push(() => consumer.stop());
        const inboxTimer = setInterval(drain, INBOX_POLL_MS);
        stops.push(() => clearInterval(inboxTimer));
        if (settings.settlementWindowIntervalMs > 0) {
          const closer = setInterval(() => {
            void settlement.close({ $typeName: "clearmesh.clearing.v1.CloseSettlementWindowRequest", requestId: `interval-${now()}` })
              .catch((error: Error) => logger.warn({ err: error.message }, "scheduled window close failed"));
          }, settings.settlementWindowIntervalMs);
          stops.push(() => clearInterval(closer));
        }
      })();
      return {
        registrations: [registration(ClearingService, clearingHandlers({ store, engine, directory: directoryService, transfers, liquidity, settlement, quotes, fxRates, parties }))],
        files: clearmeshFiles,
        ready,
        stop: async () => {
          leadership.abort();
          await ready.catch(() => undefined);
          await engine.stop();
          for (const stop of stops.reverse()) await stop();
        },
      };
    },
  });
}

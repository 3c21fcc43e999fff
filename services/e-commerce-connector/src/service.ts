// The e-commerce connector's composition: the merchant registry (also the call pipeline's second
// key source, so merchants' signatures verify), the payment, refund and webhook services over
// clearing and the bank-adapter (signed as the hosted acquirers), the webhook dispatcher and the
// sweeper. main.ts runs it as a process; tests start it in theirs.
import { groupCommitting } from "@clearmesh/store";
import crypto from "node:crypto";
import path from "node:path";
import { BankAdapterService, CommerceService, clearmeshFiles } from "@clearmesh/contracts";
import { newUlid } from "@clearmesh/bus";
import { createSignedClient, loadHostedKeys, registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { createGateways } from "./gateways.js";
import { commerceHandlers } from "./handlers.js";
import { createIntentChanges } from "./intents/changes.js";
import { createPaymentService } from "./intents/service.js";
import { createSettlement } from "./intents/settlement.js";
import { MerchantRegistry } from "./merchants/registry.js";
import { createMerchantService } from "./merchants/service.js";
import { commerceMigrations } from "./migrations.js";
import { createRefundService } from "./refunds/service.js";
import type { CommerceConnectorSettings } from "./settings.js";
import { startSweeper } from "./sweeper.js";
import { startWebhookDispatcher, type WebhookDispatcher } from "./webhooks/dispatcher.js";
import type { WebhookPoster } from "./webhooks/http.js";
import { createWebhookService } from "./webhooks/service.js";

/** Calls one confirm or capture chains at most: read the transfer, commit, book the capture at the bank. */
const UPSTREAM_CALLS_PER_STEP = 4;

export interface CommerceConnectorOptions {
  logger?: Logger;
  now?: () => number;
  /** Replaces the HTTP POST of webhooks (tests of the dispatcher). */
  postWebhook?: WebhookPoster;
}

export async function startCommerceConnector(settings: CommerceConnectorSettings, options: CommerceConnectorOptions = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  assertSweeperWaitsForCalls(settings);
  const hostedIds = settings.hostedParticipants.split(",");
  const hostedKeys = loadHostedKeys(path.join(settings.dataDir, "keys"), hostedIds, settings.hostedKeyIds);
  return startService({
    name: "e-commerce-connector",
    settings,
    migrations: commerceMigrations,
    logger: options.logger,
    async build({ logger, store, directory, identity, clearing, clientTls }) {
      // Intents' state changes with their webhooks share commits on SQLite (packages/store
      // groupCommitting): every transaction here is safe to run again (effects only through `tx`).
      const commits = groupCommitting(store);
      if (!clearing) throw new Error("the e-commerce connector needs a clearing client");
      logger.info({ hosted: hostedIds }, "hosting participants");
      const registry = new MerchantRegistry(store, directory, logger);
      await registry.refresh();
      registry.start(settings.merchantRefreshMs);
      const bank = createSignedClient(BankAdapterService, {
        address: settings.bankAdapterAddress, responseKeys: directory.lookupKey, expectedResponder: "bank-adapter", tls: clientTls,
      });
      const gateways = createGateways({ clearing, bank, acquirerKeys: hostedKeys, deadlineMs: settings.upstreamTimeoutMs });
      const newId = () => newUlid(now());
      let dispatcher: WebhookDispatcher | undefined;
      const wakeWebhooks = () => dispatcher?.wake();
      const changes = createIntentChanges({ store: commits.store, now, newId, webhooks: () => dispatcher });
      const settlement = createSettlement({ store, changes, clearing: gateways.clearing, cards: gateways.cards, logger });
      const payments = createPaymentService({ store: commits.store, changes, settlement, clearing: gateways.clearing, cards: gateways.cards, directory, now, newId, logger });
      const refunds = createRefundService({ store, changes, clearing: gateways.clearing, cards: gateways.cards, now, newId, wakeWebhooks, logger });
      const webhooks = createWebhookService({ store, now, wakeWebhooks });
      const merchants = createMerchantService({ store, registry, directory, hostedAcquirers: new Set(hostedIds), now });
      dispatcher = startWebhookDispatcher({
        store, identity, now, logger, post: options.postWebhook,
        policy: { backoffMs: settings.webhookBackoffMs, jitterPercent: settings.webhookJitterPercent, maxAttempts: settings.webhookMaxAttempts },
        timeoutMs: settings.webhookTimeoutMs, concurrencyPerMerchant: settings.webhookConcurrencyPerMerchant, concurrency: settings.webhookConcurrency,
        pollMs: settings.webhookPollMs, owner: `connector-${crypto.randomBytes(6).toString("hex")}`,
        webhookUrlOf: async (merchantId) => (await registry.find(merchantId))?.webhookUrl,
      });
      const sweeper = startSweeper({ store, settlement, refunds, processingTimeoutMs: settings.processingTimeoutMs, intervalMs: settings.sweepIntervalMs, now, logger });
      const stopDispatcher = dispatcher;
      return {
        registrations: [registration(CommerceService, commerceHandlers({ directory, registry, merchants, payments, refunds, webhooks }))],
        files: clearmeshFiles,
        extraKeyLookup: registry.lookupKey,
        stop: async () => {
          await sweeper.stop();
          await stopDispatcher.stop();
          await commits.close();
          registry.stop();
          bank.close();
        },
      };
    },
  });
}

/**
 * The sweeper must never judge an intent that a live call is still working on: it could release
 * a transfer the call is about to commit. So PROCESSING_TIMEOUT_MS must outlast the longest call
 * (RPC_TIMEOUT_MS, and the upstream calls one confirm or capture chains).
 */
function assertSweeperWaitsForCalls(settings: CommerceConnectorSettings): void {
  const longestCallMs = Math.max(settings.rpcTimeoutMs, UPSTREAM_CALLS_PER_STEP * settings.upstreamTimeoutMs);
  if (settings.processingTimeoutMs <= longestCallMs) {
    throw new Error(`PROCESSING_TIMEOUT_MS (${settings.processingTimeoutMs}) must exceed RPC_TIMEOUT_MS and ${UPSTREAM_CALLS_PER_STEP} × UPSTREAM_TIMEOUT_MS (${longestCallMs} ms)`);
  }
}

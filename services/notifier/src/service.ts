// The notifier (docs/notifier.md): durable consumers turn notification requests and operator
// alerts into delivery rows; the dispatcher sends them by e-mail (SMTP) or SMS (HTTP gateway),
// retries with backoff, rate-limits per recipient and dead-letters; the RPCs read deliveries
// and revive dead letters. Its events go through the outbox, signed by the notifier identity.
import { Counter } from "prom-client";
import { NotifierService, clearmeshFiles } from "@clearmesh/contracts";
import { registration, startService, type Logger, type RunningService } from "@clearmesh/runtime";
import { createSmtpChannel } from "./channels/email.js";
import { createHttpGatewayProvider } from "./channels/sms-http-gateway.js";
import type { EmailChannel, SmsProvider } from "./channels/types.js";
import { NOTIFIER_CONSUMERS, startNotifierConsumers } from "./consumers.js";
import { startDispatcher } from "./dispatcher.js";
import { createEventWriter } from "./events.js";
import { startHousekeeping } from "./housekeeping.js";
import { notifierHandlers } from "./handlers.js";
import { notifierMigrations } from "./migrations.js";
import { recordRequest, recordThresholdAlert, recordWindowFailedAlert, type AlertDeps } from "./requests.js";
import type { NotifierSettings } from "./settings.js";

export interface NotifierOptions {
  logger?: Logger;
  now?: () => number;
  /** Replace the channels (tests of a channel's failure modes); default: from the settings. */
  email?: EmailChannel;
  sms?: SmsProvider;
}

export async function startNotifier(settings: NotifierSettings, options: NotifierOptions = {}): Promise<RunningService> {
  const now = options.now ?? Date.now;
  return startService({
    name: "notifier",
    settings,
    migrations: notifierMigrations,
    logger: options.logger,
    async build({ logger, store, nc, directory, identity, outbox, metrics, clearing }) {
      const ring = settings.notifyDataKeys;
      const events = createEventWriter(identity, now);
      const email = options.email ?? createSmtpChannel({ url: settings.smtpUrl, from: settings.mailFrom, timeoutMs: settings.sendTimeoutMs });
      const sms = options.sms ?? createHttpGatewayProvider({ url: settings.smsGatewayUrl, token: settings.smsGatewayToken, timeoutMs: settings.sendTimeoutMs });
      const attempts = new Counter({ name: "clearmesh_notification_attempts_total", help: "Delivery attempts by channel and outcome (delivered or the failure reason).", labelNames: ["channel", "outcome"], registers: [metrics.registry] });
      const dispatcher = startDispatcher({
        store, logger, ring, email, sms, events, outbox, now,
        limits: {
          backoffMs: settings.backoffMs, maxAttempts: settings.maxAttempts, ratePerRecipientPerHour: settings.ratePerRecipientPerHour,
          maxConcurrentSends: settings.maxConcurrentSends, pollIntervalMs: settings.pollIntervalMs, sendTimeoutMs: settings.sendTimeoutMs,
          defaultLocale: settings.defaultLocale,
        },
        onOutcome: (channel, outcome) => attempts.inc({ channel, outcome }),
      });
      const alertDeps: AlertDeps = { logger, events, now, ring, operatorEmail: settings.operatorAlertEmail, locale: settings.operatorAlertLocale };
      if (settings.operatorAlertEmail === undefined) logger.info("OPERATOR_ALERT_EMAIL is not set: operator alerts are off");
      const consumers = startNotifierConsumers(
        { nc, store, directory, clearing: clearing!, metrics, logger, onProcessed: () => { dispatcher.wake(); outbox.notify(); } },
        [
          { ...NOTIFIER_CONSUMERS.requests, handler: (event, tx) => recordRequest({ logger, events, now }, event, tx) },
          { ...NOTIFIER_CONSUMERS.thresholdAlerts, handler: (event, tx) => recordThresholdAlert(alertDeps, event, tx) },
          { ...NOTIFIER_CONSUMERS.windowAlerts, handler: (event, tx) => recordWindowFailedAlert(alertDeps, event, tx) },
        ],
      );
      const housekeeping = startHousekeeping({ store, logger, retentionDays: settings.retentionDays, now });
      return {
        registrations: [registration(NotifierService, notifierHandlers({ store, ring, now, onRevived: () => dispatcher.wake() }))],
        files: clearmeshFiles,
        ready: consumers.ready,
        async stop() {
          await consumers.stop();
          await dispatcher.stop();
          await housekeeping.stop();
          email.close();
          sms.close();
        },
      };
    },
  });
}

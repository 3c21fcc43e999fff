// The e-commerce connector settings: the common ones, the participants it hosts, where the
// bank-adapter is, the webhook schedule and limits, and the sweeper that leaves no payment stuck.
import { addressSetting, commonSettings, hostedKeyIdsSetting, hostedParticipantsSetting, integerSetting, loadSettings, type Setting, type Settings } from "@clearmesh/runtime";

/** The longest delay one schedule step may ask for: one week. */
const MAX_BACKOFF_STEP_MS = 7 * 86_400_000;
/** Bounds the schedule's length (TIGER_STYLE: a limit on everything). */
const MAX_BACKOFF_STEPS = 64;

/** Parses "1000,5000,30000": the delay after the 1st, 2nd, 3rd… failed attempt; the last repeats. */
export function parseBackoffSchedule(text: string): readonly number[] {
  const steps = text.split(",").map((part) => part.trim());
  if (steps.length === 0 || steps.length > MAX_BACKOFF_STEPS) throw new Error(`must list 1 to ${MAX_BACKOFF_STEPS} delays`);
  return steps.map((step, index) => {
    if (!/^\d{1,10}$/.test(step)) throw new Error(`delay ${index + 1} must be a whole number of milliseconds`);
    const delayMs = Number(step);
    if (delayMs < 1 || delayMs > MAX_BACKOFF_STEP_MS) throw new Error(`delay ${index + 1} must be between 1 and ${MAX_BACKOFF_STEP_MS} ms`);
    return delayMs;
  });
}

export function commerceConnectorSettingsSchema() {
  return {
    ...commonSettings("e-commerce-connector"),
    hostedParticipants: hostedParticipantsSetting(["acquirer-a"]),
    hostedKeyIds: hostedKeyIdsSetting(),
    bankAdapterAddress: addressSetting("BANK_ADAPTER_ADDRESS", "host:port of the bank-adapter's gRPC port (card authorizations, captures, voids and refunds).", "127.0.0.1:50052"),
    upstreamTimeoutMs: integerSetting("UPSTREAM_TIMEOUT_MS", "Deadline of one call to clearing or the bank-adapter.", 5_000, { min: 100, max: 60_000 }),
    webhookBackoffMs: {
      env: "WEBHOOK_BACKOFF_MS",
      doc: "Webhook retry schedule: comma-separated delays in ms after the 1st, 2nd, … failed attempt (the last repeats); each is shortened by up to WEBHOOK_JITTER_PERCENT at random.",
      fallback: "1000,5000,30000,300000,1800000,7200000,21600000,86400000",
      parse: parseBackoffSchedule,
    } satisfies Setting<readonly number[]>,
    webhookJitterPercent: integerSetting("WEBHOOK_JITTER_PERCENT", "Random jitter of each retry delay, in percent (the delay is shortened by 0 to this much).", 20, { min: 0, max: 90 }),
    webhookMaxAttempts: integerSetting("WEBHOOK_MAX_ATTEMPTS", "Attempts per webhook (the first plus retries) before it is DEAD_LETTERED; RetryWebhook grants as many again.", 9, { min: 1, max: 100 }),
    webhookTimeoutMs: integerSetting("WEBHOOK_TIMEOUT_MS", "Longest one webhook POST may take, answer included; then it counts as failed.", 5_000, { min: 100, max: 60_000 }),
    webhookConcurrencyPerMerchant: integerSetting("WEBHOOK_CONCURRENCY_PER_MERCHANT", "Webhook POSTs in flight to one merchant at once (per instance), so a slow merchant only delays itself.", 1, { min: 1, max: 64 }),
    webhookConcurrency: integerSetting("WEBHOOK_CONCURRENCY", "Webhook POSTs in flight at once over all merchants (per instance).", 16, { min: 1, max: 1_024 }),
    webhookPollMs: integerSetting("WEBHOOK_POLL_MS", "How often the dispatcher looks for due webhooks when nothing woke it.", 500, { min: 10, max: 60_000 }),
    processingTimeoutMs: integerSetting("PROCESSING_TIMEOUT_MS", "An intent or refund left PROCESSING / PENDING this long is settled by the sweeper from clearing's record; must exceed RPC_TIMEOUT_MS and 4 × UPSTREAM_TIMEOUT_MS (checked at start).", 60_000, { min: 1_000, max: 86_400_000 }),
    sweepIntervalMs: integerSetting("SWEEP_INTERVAL_MS", "How often the sweeper runs (it also runs at start).", 10_000, { min: 50, max: 3_600_000 }),
    merchantRefreshMs: integerSetting("MERCHANT_REFRESH_MS", "How often the merchant key registry re-reads merchants registered through other instances.", 2_000, { min: 100, max: 60_000 }),
  };
}

export type CommerceConnectorSettings = Settings<ReturnType<typeof commerceConnectorSettingsSchema>>;

export function loadCommerceConnectorSettings(environment: Record<string, string | undefined> = process.env): CommerceConnectorSettings {
  return loadSettings(commerceConnectorSettingsSchema(), environment);
}

// The notifier's settings: the common ones, the notification data keys, the two channels, the
// operator's alert address, and the limits of retries, rate and concurrency (docs/notifier.md).
import {
  commonSettings, enumSetting, integerSetting, loadSettings, notifyDataKeysSetting, optionalStringSetting, stringSetting, urlSetting,
  type Setting, type Settings,
} from "@clearmesh/runtime";

/** Ports of the local sinks `npm start` runs (sinks/index.ts). */
export const DEFAULT_SMTP_SINK_PORT = 2525;
export const DEFAULT_SMS_SINK_PORT = 8099;
/** Where the notifier sends by default: the local sinks on their default ports. */
export const DEFAULT_SMTP_URL = `smtp://127.0.0.1:${DEFAULT_SMTP_SINK_PORT}`;
export const DEFAULT_SMS_GATEWAY_URL = `http://127.0.0.1:${DEFAULT_SMS_SINK_PORT}/messages`;

const MAX_BACKOFF_STEPS = 32;
const MAX_BACKOFF_STEP_MS = 24 * 60 * 60 * 1000;

/** Delays after the 1st, 2nd, … failed attempt: `ms[,ms…]`, the last repeating. */
function backoffListSetting(): Setting<readonly number[]> {
  return {
    env: "NOTIFY_BACKOFF_MS",
    doc: "Delays before the 2nd, 3rd, … attempt of a delivery, in milliseconds, comma-separated; the last one repeats.",
    fallback: "5000,30000,120000,600000,1800000",
    parse(raw) {
      const steps = raw.split(",").map((step) => step.trim());
      if (steps.length > MAX_BACKOFF_STEPS) throw new Error(`at most ${MAX_BACKOFF_STEPS} delays`);
      return steps.map((step) => {
        if (!/^\d{1,9}$/.test(step)) throw new Error("must be comma-separated integers (milliseconds)");
        const delayMs = Number(step);
        if (delayMs < 1 || delayMs > MAX_BACKOFF_STEP_MS) throw new Error(`each delay must be 1 to ${MAX_BACKOFF_STEP_MS} ms`);
        return delayMs;
      });
    },
  };
}

/** A setting that may stay unset (typed `T | undefined`). */
type OptionalSetting<T> = Setting<T> & { readonly optional: true };

/** A plain address for the operator's alerts (masked in logs, never stored in clear). */
function alertAddressSetting(): OptionalSetting<string> {
  return {
    ...optionalStringSetting("OPERATOR_ALERT_EMAIL", "E-mail address of the operator's alerts (a position crossing its threshold, a failed settlement window); unset: no alerts."),
    optional: true,
    parse(raw) {
      if (!/^[^\s@<>]+@[^\s@<>]+$/.test(raw.trim())) throw new Error("must be an e-mail address");
      return raw.trim();
    },
  };
}

export function notifierSettingsSchema() {
  return {
    ...commonSettings("notifier"),
    notifyDataKeys: notifyDataKeysSetting(),
    smtpUrl: urlSetting("SMTP_URL", "SMTP server for e-mail (`smtp://[user:pass@]host:port`, `smtps://` for implicit TLS); `npm start` points it at its local sink unless set.", DEFAULT_SMTP_URL, ["smtp:", "smtps:"]),
    mailFrom: stringSetting("NOTIFY_MAIL_FROM", "From address of notification e-mails.", "clearmesh <notifications@clearmesh.local>", /^[^\r\n]{3,200}$/),
    smsGatewayUrl: urlSetting("SMS_GATEWAY_URL", "HTTP SMS gateway: the URL each message is POSTed to as JSON (docs/notifier.md); `npm start` points it at its local sink unless set.", DEFAULT_SMS_GATEWAY_URL, ["http:", "https:"]),
    smsGatewayToken: { ...optionalStringSetting("SMS_GATEWAY_TOKEN", "Bearer token sent to the SMS gateway in `authorization`; unset: none."), optional: true, secret: true } as OptionalSetting<string>,
    operatorAlertEmail: alertAddressSetting(),
    operatorAlertLocale: stringSetting("OPERATOR_ALERT_LOCALE", "BCP 47 locale of the operator's alerts (money formats).", "en-US", /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/),
    defaultLocale: stringSetting("NOTIFY_DEFAULT_LOCALE", "Locale of notifications whose request names none (or an invalid one).", "en-US", /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/),
    backoffMs: backoffListSetting(),
    maxAttempts: integerSetting("NOTIFY_MAX_ATTEMPTS", "Attempts per delivery (per round) before it is dead-lettered.", 8, { min: 1, max: 100 }),
    ratePerRecipientPerHour: integerSetting("NOTIFY_RATE_PER_RECIPIENT_PER_HOUR", "Messages one e-mail address or phone number receives in any 60 minutes; more wait (delayed, not dropped). Operator alerts are exempt.", 20, { min: 1, max: 100_000 }),
    sendTimeoutMs: integerSetting("NOTIFY_SEND_TIMEOUT_MS", "Longest each step of an attempt may take (SMTP connection, greeting and each command; the SMS gateway's answer); a whole attempt is abandoned as CHANNEL_TIMEOUT after twice this.", 15_000, { min: 100, max: 300_000 }),
    maxConcurrentSends: integerSetting("NOTIFY_MAX_CONCURRENT_SENDS", "Attempts in flight at once per notifier instance.", 8, { min: 1, max: 256 }),
    pollIntervalMs: integerSetting("NOTIFY_POLL_INTERVAL_MS", "Longest the dispatcher sleeps before looking for due deliveries (new requests wake it at once).", 1_000, { min: 10, max: 60_000 }),
    retentionDays: integerSetting("NOTIFY_RETENTION_DAYS", "Days a delivered or dead-lettered notification stays queryable (and its id refuses a second request) before it is deleted.", 30, { min: 7, max: 3650 }),
    smsProvider: enumSetting("SMS_PROVIDER", "SMS provider adapter (channels/sms-*.ts); `http-gateway` posts the documented JSON to SMS_GATEWAY_URL.", "http-gateway", ["http-gateway"] as const),
  };
}

export type NotifierSettings = Settings<ReturnType<typeof notifierSettingsSchema>>;

export function loadNotifierSettings(environment: Record<string, string | undefined> = process.env): NotifierSettings {
  return loadSettings(notifierSettingsSchema(), environment);
}

// The wallet service settings: the common ones, the providers it hosts, the data keys that seal
// personal data and notification recipients, and every limit of authentication and payments.
import {
  addressSetting, commonSettings, dataKeysSetting, hostedKeyIdsSetting, hostedParticipantsSetting, integerSetting, loadSettings, notifyDataKeysSetting, stringSetting, type Setting, type Settings,
} from "@clearmesh/runtime";

const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const DAY_MS = 86_400_000;

/** scrypt's N must be a power of two; 2^10 is only fit for tests. */
function scryptCostSetting(): Setting<number> {
  const base = integerSetting("PASSWORD_SCRYPT_COST", "scrypt cost N (a power of two) for new password hashes; r=8, p=1. Hashes keep their own parameters, and a login rehashes one made with a lower cost.", 32_768, { min: 1_024, max: 1_048_576 });
  return {
    ...base,
    parse(raw: string) {
      const value = base.parse(raw);
      if ((value & (value - 1)) !== 0) throw new Error("must be a power of two");
      return value;
    },
  };
}

export function walletSettingsSchema() {
  return {
    ...commonSettings("wallet"),
    hostedParticipants: hostedParticipantsSetting(["wallet-a", "wallet-b"]),
    hostedKeyIds: hostedKeyIdsSetting(),
    dataKeys: dataKeysSetting(),
    notifyDataKeys: notifyDataKeysSetting(),
    sessionTtlMs: integerSetting("SESSION_TTL_MS", "How long a session token from Login is valid.", 3_600_000, { min: SECOND_MS, max: 30 * DAY_MS }),
    loginMaxFailedAttempts: integerSetting("LOGIN_MAX_FAILED_ATTEMPTS", "Failed logins (wrong password or TOTP code) in a row that lock the account.", 5, { min: 1, max: 100 }),
    loginLockoutMs: integerSetting("LOGIN_LOCKOUT_MS", "How long a locked account refuses every login (answered like a wrong password).", 15 * MINUTE_MS, { min: SECOND_MS, max: DAY_MS }),
    passwordScryptCost: scryptCostSetting(),
    registrationsPerCallerPerMinute: integerSetting("REGISTRATIONS_PER_CALLER_PER_MINUTE",
      "RegisterUser calls one caller may make per minute (the caller: the first X-Forwarded-For address, else the x-client-id header; docs/wallet.md).", 10, { min: 1, max: 10_000 }),
    registrationsPerMinute: integerSetting("REGISTRATIONS_PER_MINUTE", "RegisterUser calls per minute over all callers together, per process.", 600, { min: 1, max: 1_000_000 }),
    totpIssuer: stringSetting("TOTP_ISSUER", "Issuer shown by authenticator apps in the otpauth:// URI.", "clearmesh", /^[A-Za-z0-9 ._-]{1,40}$/),
    clearingCallDeadlineMs: integerSetting("CLEARING_CALL_DEADLINE_MS", "Longest the wallet waits for one call to clearing, the bank-adapter or the e-commerce connector before treating its outcome as unknown.", 10 * SECOND_MS, { min: 100, max: MINUTE_MS }),
    holdTimeoutMs: integerSetting("HOLD_TIMEOUT_MS", "Age after which the reconciler asks clearing what became of a pending payment's transfer and settles its hold.", MINUTE_MS, { min: 200, max: DAY_MS }),
    bankAdapterAddress: addressSetting("BANK_ADAPTER_ADDRESS", "host:port of the bank-adapter's gRPC port (mandates and pulls for linked accounts and top-ups).", "127.0.0.1:50052"),
    commerceAddress: addressSetting("COMMERCE_ADDRESS", "host:port of the e-commerce connector's gRPC port (paying payment intents).", "127.0.0.1:50054"),
    paymentTransferTtlMs: integerSetting("PAYMENT_TRANSFER_TTL_MS", "Expiry of the transfer prepared at clearing to pay a payment intent (a manual capture must come before it); clearing's MAX_TRANSFER_EXPIRY_MS must allow it.", 15 * MINUTE_MS, { min: 5 * SECOND_MS, max: 7 * DAY_MS }),
    reconcileIntervalMs: integerSetting("RECONCILE_INTERVAL_MS", "How often the reconciler and the alias registrar look for work.", 5 * SECOND_MS, { min: 50, max: 10 * MINUTE_MS }),
  };
}

export type WalletSettings = Settings<ReturnType<typeof walletSettingsSchema>>;

export function loadWalletSettings(environment: Record<string, string | undefined> = process.env): WalletSettings {
  return loadSettings(walletSettingsSchema(), environment);
}

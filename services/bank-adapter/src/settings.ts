// The bank adapter settings: the common ones, the participants it hosts, the data keys that seal
// account numbers, card numbers and personal data, and the limits of mandates and card
// authorizations.
import {
  commonSettings, dataKeysSetting, hostedKeyIdsSetting, hostedParticipantsSetting, integerSetting, loadSettings, notifyDataKeysSetting, type Settings,
} from "@clearmesh/runtime";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export function bankAdapterSettingsSchema() {
  return {
    ...commonSettings("bank-adapter"),
    hostedParticipants: hostedParticipantsSetting(["bank-a", "bank-b"]),
    hostedKeyIds: hostedKeyIdsSetting(),
    dataKeys: dataKeysSetting(),
    notifyDataKeys: notifyDataKeysSetting(),
    authorizationTtlMs: integerSetting("AUTHORIZATION_TTL_MS",
      "How long a card authorization holds money unless captured (its clearing transfer's expiry) when the acquirer names no expiry; clearing's MAX_TRANSFER_EXPIRY_MS must allow it.",
      7 * DAY_MS, { min: 1_000, max: 30 * DAY_MS }),
    mandateCodeTtlMs: integerSetting("MANDATE_CODE_TTL_MS", "How long a mandate's one-time code may be confirmed.", 10 * MINUTE_MS, { min: 1_000, max: DAY_MS }),
    mandateCodeAttempts: integerSetting("MANDATE_CODE_ATTEMPTS", "Wrong one-time codes a mandate tolerates; the last one expires it.", 5, { min: 1, max: 20 }),
  };
}

export type BankAdapterSettings = Settings<ReturnType<typeof bankAdapterSettingsSchema>>;

export function loadBankAdapterSettings(environment: Record<string, string | undefined> = process.env): BankAdapterSettings {
  return loadSettings(bankAdapterSettingsSchema(), environment);
}

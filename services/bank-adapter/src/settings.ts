// The bank adapter settings: the common ones plus the participants it hosts.
import { commonSettings, hostedParticipantsSetting, loadSettings, type Settings } from "@clearmesh/runtime";

export function bankAdapterSettingsSchema() {
  return {
    ...commonSettings("bank-adapter"),
    hostedParticipants: hostedParticipantsSetting(["bank-a", "bank-b"]),
  };
}

export type BankAdapterSettings = Settings<ReturnType<typeof bankAdapterSettingsSchema>>;

export function loadBankAdapterSettings(environment: Record<string, string | undefined> = process.env): BankAdapterSettings {
  return loadSettings(bankAdapterSettingsSchema(), environment);
}

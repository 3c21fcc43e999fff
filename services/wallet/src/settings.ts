// The wallet service settings: the common ones plus the participants it hosts.
import { commonSettings, hostedParticipantsSetting, loadSettings, type Settings } from "@clearmesh/runtime";

export function walletSettingsSchema() {
  return {
    ...commonSettings("wallet"),
    hostedParticipants: hostedParticipantsSetting(["wallet-a", "wallet-b"]),
  };
}

export type WalletSettings = Settings<ReturnType<typeof walletSettingsSchema>>;

export function loadWalletSettings(environment: Record<string, string | undefined> = process.env): WalletSettings {
  return loadSettings(walletSettingsSchema(), environment);
}

// The e-commerce connector settings: the common ones plus the participants it hosts.
import { commonSettings, hostedParticipantsSetting, loadSettings, type Settings } from "@clearmesh/runtime";

export function commerceConnectorSettingsSchema() {
  return {
    ...commonSettings("e-commerce-connector"),
    hostedParticipants: hostedParticipantsSetting(["acquirer-a"]),
  };
}

export type CommerceConnectorSettings = Settings<ReturnType<typeof commerceConnectorSettingsSchema>>;

export function loadCommerceConnectorSettings(environment: Record<string, string | undefined> = process.env): CommerceConnectorSettings {
  return loadSettings(commerceConnectorSettingsSchema(), environment);
}

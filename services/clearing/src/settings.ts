// Clearing's settings: the common ones plus its own.
import { commonSettings, integerSetting, loadSettings, type Settings } from "@clearmesh/runtime";

export function clearingSettingsSchema() {
  return {
    ...commonSettings("clearing"),
    maxBatchTransfers: integerSetting("MAX_BATCH_TRANSFERS", "Most transfers committed in one store transaction (group commit).", 512, { min: 1, max: 10_000 }),
  };
}

export type ClearingSettings = Settings<ReturnType<typeof clearingSettingsSchema>>;

export function loadClearingSettings(environment: Record<string, string | undefined> = process.env): ClearingSettings {
  return loadSettings(clearingSettingsSchema(), environment);
}

// The notifier's settings: the common ones (its own arrive with the notifier issue).
import { commonSettings, loadSettings, type Settings } from "@clearmesh/runtime";

export function notifierSettingsSchema() {
  return commonSettings("notifier");
}

export type NotifierSettings = Settings<ReturnType<typeof notifierSettingsSchema>>;

export function loadNotifierSettings(environment: Record<string, string | undefined> = process.env): NotifierSettings {
  return loadSettings(notifierSettingsSchema(), environment);
}

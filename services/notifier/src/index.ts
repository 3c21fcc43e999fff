export { startNotifier } from "./service.js";
export { loadNotifierSettings, notifierSettingsSchema } from "./settings.js";
export type { NotifierSettings } from "./settings.js";

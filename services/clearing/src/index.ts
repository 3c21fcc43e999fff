export { startClearing } from "./service.js";
export { clearingSettingsSchema, loadClearingSettings } from "./settings.js";
export type { ClearingSettings } from "./settings.js";
export { clearingReasons } from "./errors.js";

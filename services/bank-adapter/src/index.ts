export { startBankAdapter } from "./service.js";
export { loadBankAdapterSettings, bankAdapterSettingsSchema } from "./settings.js";
export type { BankAdapterSettings } from "./settings.js";

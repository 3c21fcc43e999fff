export { startBankAdapter } from "./service.js";
export type { BankAdapterOptions } from "./service.js";
export { loadBankAdapterSettings, bankAdapterSettingsSchema } from "./settings.js";
export type { BankAdapterSettings } from "./settings.js";
export { bankAdapterReasons, settlementFailureReasons } from "./errors.js";
export type { BankAdapterReason, SettlementFailureReason } from "./errors.js";
export type { ClearingGateway, ClearingOutcome } from "./clearing.js";

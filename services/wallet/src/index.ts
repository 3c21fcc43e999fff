export { startWallet } from "./service.js";
export type { WalletOptions } from "./service.js";
export { loadWalletSettings, walletSettingsSchema } from "./settings.js";
export type { WalletSettings } from "./settings.js";
export { walletReasons, UNAUTHENTICATED_MESSAGE } from "./errors.js";
export type { WalletReason } from "./errors.js";
export { UNSIGNED_METHODS } from "./handlers.js";

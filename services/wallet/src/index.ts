export { startWallet } from "./service.js";
export { loadWalletSettings, walletSettingsSchema } from "./settings.js";
export type { WalletSettings } from "./settings.js";

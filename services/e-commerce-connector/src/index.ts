export { startCommerceConnector } from "./service.js";
export { loadCommerceConnectorSettings, commerceConnectorSettingsSchema } from "./settings.js";
export type { CommerceConnectorSettings } from "./settings.js";

export { startCommerceConnector } from "./service.js";
export type { CommerceConnectorOptions } from "./service.js";
export { loadCommerceConnectorSettings, commerceConnectorSettingsSchema, parseBackoffSchedule } from "./settings.js";
export type { CommerceConnectorSettings } from "./settings.js";
export { commerceReasons } from "./errors.js";
export type { CommerceReason } from "./errors.js";
export { ALLOWED_STATES, TRANSITIONS, canTransition } from "./intents/model.js";
export { retryDelayMs, stateAfterAttempt } from "./webhooks/schedule.js";
export type { RetryPolicy } from "./webhooks/schedule.js";

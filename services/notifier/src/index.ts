export { startNotifier } from "./service.js";
export type { NotifierOptions } from "./service.js";
export {
  DEFAULT_SMS_GATEWAY_URL, DEFAULT_SMS_SINK_PORT, DEFAULT_SMTP_SINK_PORT, DEFAULT_SMTP_URL, loadNotifierSettings, notifierSettingsSchema,
} from "./settings.js";
export type { NotifierSettings } from "./settings.js";
export { deliveryFailureReasons, notifierReasons, RATE_LIMITED } from "./errors.js";
export type { DeliveryFailureReason, NotifierReason } from "./errors.js";
export { NOTIFY_SUBJECTS } from "./events.js";
export { formatMoney, minorDigits, parseMoneyParameter } from "./money.js";
export type { Money } from "./money.js";
export { TEMPLATE_SPECS, renderMessage } from "./templates/index.js";
export type { RenderedMessage } from "./templates/index.js";
export type { SmsGatewayRequest } from "./channels/sms-http-gateway.js";
export {
  localSinkDirectories, readStoredMails, readStoredSms, startLocalSinks, startMailSink, startSmsSink,
} from "./sinks/index.js";
export type { LocalSinks, LocalSinksOptions, MailSink, SmsSink, StoredMail, StoredSms } from "./sinks/index.js";

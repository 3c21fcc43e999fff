export { createSignedClient, channelCredentials, grpcJsTransport } from "./client.js";
export { callError, http2Transport } from "./h2-client.js";
export type { CallOptions, ClientTls, RawCallResult, SignedClient, SignedClientOptions, UnaryTransport } from "./client.js";
export type { CallError, Http2TransportOptions } from "./h2-client.js";
export {
  ConfigError, addressSetting, describeSettings, enumSetting, integerSetting, loadSettings, optionalStringSetting,
  pathSetting, portSetting, publicKeySetting, stringSetting, urlSetting,
} from "./config.js";
export type { Setting, Settings, SettingsSchema } from "./config.js";
export { Directory } from "./directory.js";
export type { DirectoryListener, TrustAnchor } from "./directory.js";
export { PARTICIPANT_UPDATED_SUBJECT, startDirectorySync } from "./directory-sync.js";
export type { DirectorySync, DirectorySyncOptions } from "./directory-sync.js";
export { Code, ConnectError, ERROR_DOMAIN, errorInfo, errorReason, rpcError, toConnectError } from "./errors.js";
export { HealthState } from "./health.js";
export { KeyFileError, ensureKeyFiles, keyFilePath, loadHostedKeys, loadSigningKey, writeKeyFiles } from "./keyfiles.js";
export { REDACTED_FIELDS, createLogger } from "./logging.js";
export type { Logger } from "./logging.js";
export { createServiceMetrics } from "./metrics.js";
export type { ServiceMetrics } from "./metrics.js";
export { CallPipeline, callerKey, callerOf, requireCaller } from "./pipeline.js";
export type { Caller } from "./pipeline.js";
export { procedureOf, registration } from "./registration.js";
export type { ServiceRegistration } from "./registration.js";
export { startServer } from "./server.js";
export type { RunningServer, ServerOptions, TlsFiles } from "./server.js";
export { runServiceProcess, startService } from "./service.js";
export type { BuiltService, CommonSettings, RunningService, ServiceDeps, ServiceSpec } from "./service.js";
export { TurnQueue } from "./turns.js";
export { DEFAULT_PORTS, SERVICE_NAMES, commonSettings, dataKeysSetting, hostedKeyIdsSetting, hostedParticipantsSetting, notifyDataKeysSetting, parseHostedKeyIds } from "./settings.js";
export type { CommonSettingsSchema, ServiceName } from "./settings.js";
export { DEFAULT_MINOR_DIGITS, formatMinor, minorDigits, parseMinor } from "./money.js";
export { CURRENCY_PATTERN, ID_PATTERN, INT64_MAX, PHONE_PATTERN, aliasOf, fieldChecks, normalizedEmail, pageToken } from "./fields.js";
export type { AliasKind, FieldChecks, InvalidField } from "./fields.js";

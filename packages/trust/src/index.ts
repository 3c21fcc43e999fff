export { fromBase64, fromBase64Url, fromHex, sha256, toBase64, toBase64Url, toHex, utf8 } from "./encoding.js";
export { KeyFormatError, SealError, SealFailure, TrustFailure } from "./errors.js";
export type { MillisecondsValue } from "./fields.js";
export { headerGetterFromRecord } from "./headers.js";
export { publicRandomBytes } from "./random.js";
export { usableEd25519PublicKey } from "./points.js";
export type { HeaderGetter } from "./headers.js";
export {
  PUBLIC_KEY_BYTES,
  PUBLIC_KEY_CACHE_MAX_ENTRIES,
  SEED_BYTES,
  SIGNATURE_BYTES,
  createSigningKey,
  ed25519Sign,
  ed25519Library,
  ed25519Verify,
  ed25519VerifyAsync,
  generateSeed,
  parseSeedHex,
  publicKeyCacheSize,
  publicKeyFromSeed,
  setSignatureVerification,
  signatureVerification,
} from "./keys.js";
export type { Seed, SignatureVerification, SigningKey } from "./keys.js";
export {
  DEFAULT_MAX_SKEW_MS,
  HEADER_KEY_ID,
  HEADER_NONCE,
  HEADER_PARTICIPANT,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  RPC_NONCE_BYTES,
  RPC_NONCE_MAX_CHARS,
  RPC_NONCE_MIN_BYTES,
  RPC_REQUEST_CONTEXT,
  RPC_RESPONSE_CONTEXT,
  generateNonce,
  rpcRequestSignedText,
  rpcResponseSignedText,
  signRpcRequest,
  signRpcResponse,
  verifyRpcRequest,
  verifyRpcRequestAsync,
  verifyRpcResponse,
  verifyRpcResponseAsync,
} from "./rpc.js";
export type {
  KeyLookup,
  KeyRecord,
  KeyStatus,
  ResponseKeyLookup,
  RpcRequestFields,
  RpcRequestVerification,
  RpcResponseFields,
  RpcSignOptions,
} from "./rpc.js";
export { EVENT_CONTEXT, eventSignedText, signEvent, verifyEventSignature } from "./events.js";
export type { EventFields } from "./events.js";
export {
  DEFAULT_WEBHOOK_MAX_AGE_MS,
  HEADER_WEBHOOK_ID,
  HEADER_WEBHOOK_KEY_ID,
  HEADER_WEBHOOK_SIGNATURE,
  HEADER_WEBHOOK_TIMESTAMP,
  WEBHOOK_CONTEXT,
  WEBHOOK_SIGNATURE_PREFIX,
  signWebhook,
  verifyWebhook,
  webhookSignedBytes,
} from "./webhooks.js";
export type { WebhookKeyLookup, WebhookVerification } from "./webhooks.js";
export { DEFAULT_MAX_PARTICIPANTS, ReplayCache } from "./replay.js";
export type { ReplayCacheOptions, ReplayCheck } from "./replay.js";
export { DATA_KEY_BYTES, SEAL_VERSION, parseDataKeys, reseal, seal, sealedKeyId, unseal, unsealText } from "./seal.js";
export type { DataKeyRing } from "./seal.js";
export {
  REDACTED,
  REDACT_MAX_DEPTH,
  SECRET_FIELD_NAMES,
  isSecretFieldName,
  maskAccountNumber,
  maskEmail,
  maskPan,
  maskPhone,
  redactSecrets,
  secretRedactPaths,
} from "./mask.js";
export { KEY_ID_PATTERN, PARTICIPANT_ID_PATTERN } from "./fields.js";

// Named exports of the CLI's modules, for tests and for tools that script the same steps.
export { DEFAULT_TIMEOUT_MS, callProcedure, clientTls, metadataGetter, parseHeaderOptions, parseTimeoutOption } from "./call.js";
export type { CallOptions, CallResult, ConnectionOptions } from "./call.js";
export { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, formatRpcError, statusCodeName } from "./errors.js";
export {
  defaultKeyId, generateKey, keysDir, loadSigner, parsePublicKeyHex, publicKeyFilePath, readPublicKey, requireKeyId,
  requireParticipantId, resolveDataDir,
} from "./keys.js";
export type { GeneratedKey } from "./keys.js";
export {
  CLEARING, DEFAULT_CLEARING_ADDRESS, OPERATOR, PARTICIPANT_KINDS, addParticipant, participantJson, showParticipant,
} from "./participants.js";
export type { AddParticipantOptions, ClearingConnection, ParticipantKindName, ShowParticipantOptions } from "./participants.js";
export {
  RESPONDER_BY_DOMAIN, binaryToJsonText, clearmeshServices, contractsRegistry, messageToJsonText, requestFromJson,
  resolveProcedure, responderOf,
} from "./procedures.js";
export type { ResolvedProcedure } from "./procedures.js";
export { createProgram, processIo, runCli } from "./program.js";
export type { CliIo } from "./program.js";
export {
  GRPCURL_ENCODING_NOTE, formatGrpcurlHeaders, formatSignedJson, grpcurlExample, parseNonceOption, parseTimestampOption,
  signRequest,
} from "./sign.js";
export type { SignOptions, SignedRequest } from "./sign.js";

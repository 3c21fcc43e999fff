// The settings every service shares; a service adds its own to this schema.
import fs from "node:fs";
import path from "node:path";
import {
  addressSetting, enumSetting, integerSetting, optionalStringSetting, pathSetting, portSetting,
  publicKeySetting, stringSetting, urlSetting, type Setting, type SettingsSchema,
} from "./config.js";
import { KEY_ID_PATTERN, PARTICIPANT_ID_PATTERN, parseDataKeys, type DataKeyRing } from "@clearmesh/trust";

export const SERVICE_NAMES = ["clearing", "bank-adapter", "wallet", "e-commerce-connector", "notifier"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Default ports on one host (PROTOCOL.md §1). */
export const DEFAULT_PORTS: Record<ServiceName, { grpc: number; http: number }> = {
  clearing: { grpc: 50051, http: 8051 },
  "bank-adapter": { grpc: 50052, http: 8052 },
  wallet: { grpc: 50053, http: 8053 },
  "e-commerce-connector": { grpc: 50054, http: 8054 },
  notifier: { grpc: 50055, http: 8055 },
};

const dataDir = (environment: Record<string, string | undefined>): string =>
  path.resolve(environment.CLEARMESH_DATA_DIR || "./data");

/** Reads `<data>/keys/<id>.pub` when it exists, so a mesh started by `npm start` needs no anchors in the environment. */
function publicKeyFile(participantId: string) {
  return (environment: Record<string, string | undefined>): string | undefined => {
    const file = path.join(dataDir(environment), "keys", `${participantId}.pub`);
    return fs.existsSync(file) ? `${participantId}-1:${fs.readFileSync(file, "utf8").trim()}` : undefined;
  };
}

export function commonSettings(service: ServiceName) {
  const ports = DEFAULT_PORTS[service];
  return {
    dataDir: pathSetting("CLEARMESH_DATA_DIR", "Folder for SQLite files, keys and local sinks.", "./data"),
    bindHost: stringSetting("BIND_HOST", "Address the gRPC and HTTP ports listen on (0.0.0.0 in containers).", "127.0.0.1"),
    grpcPort: portSetting("GRPC_PORT", "gRPC port (h2c, or TLS when TLS_CERT_FILE is set); 0 picks a free port.", ports.grpc),
    httpPort: portSetting("HTTP_PORT", "HTTP port: Connect and gRPC-Web over the same handlers, /metrics, /healthz.", ports.http),
    storeUrl: {
      ...stringSetting("STORE_URL", "Store: `postgres://…` for PostgreSQL, `sqlite:<file>` for a SQLite file.", undefined, /^(postgres(ql)?:\/\/|sqlite:)/),
      fallback: (environment: Record<string, string | undefined>) => `sqlite:${path.join(dataDir(environment), `${service}.db`)}`,
      fallbackText: `\`sqlite:<data>/${service}.db\``,
      secret: true,
    },
    natsUrl: urlSetting("NATS_URL", "NATS server with JetStream.", "nats://127.0.0.1:4222", ["nats:", "tls:"]),
    streamReplicas: integerSetting("STREAM_REPLICAS", "Copies JetStream keeps of each clearmesh stream, set when the service creates or updates them at start: 1 on a single NATS server, 3 (or 5) on a cluster of as many servers; more than one on a single server stops the start.", 1, { min: 1, max: 5 }),
    logLevel: enumSetting("LOG_LEVEL", "pino log level.", "info", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const),
    identityKeyFile: pathSetting("IDENTITY_KEY_FILE", "The service identity's Ed25519 seed, 64 hex characters (mode 0600).",
      (environment) => path.join(dataDir(environment), "keys", `${service}.key`), `\`<data>/keys/${service}.key\``),
    identityKeyId: stringSetting("IDENTITY_KEY_ID", "Key id of the service identity key.", `${service}-1`, KEY_ID_PATTERN),
    operatorPublicKey: publicKeySetting("OPERATOR_PUBLIC_KEY", "Trust anchor: the operator's public key, `[key-id:]<64 hex>`.", "operator-1", publicKeyFile("operator"), "`<data>/keys/operator.pub` when present, else required"),
    clearingPublicKey: publicKeySetting("CLEARING_PUBLIC_KEY", "Trust anchor: clearing's public key, `[key-id:]<64 hex>`.", "clearing-1", publicKeyFile("clearing"), "`<data>/keys/clearing.pub` when present, else required"),
    clearingAddress: addressSetting("CLEARING_ADDRESS", "host:port of clearing's gRPC port, for services that call clearing (directory bootstrap, transfers); clearing ignores it.", "127.0.0.1:50051"),
    tlsCertFile: optionalStringSetting("TLS_CERT_FILE", "PEM certificate: serve gRPC and HTTP over TLS (and present it as client certificate)."),
    tlsKeyFile: optionalStringSetting("TLS_KEY_FILE", "PEM private key of TLS_CERT_FILE."),
    tlsClientCaFile: optionalStringSetting("TLS_CLIENT_CA_FILE", "PEM CA bundle: require client certificates signed by it (mutual TLS)."),
    tlsCaFile: optionalStringSetting("TLS_CA_FILE", "PEM CA bundle this service trusts when it calls other services over TLS."),
    maxRequestBytes: integerSetting("MAX_REQUEST_BYTES", "Largest request message accepted; larger ones get RESOURCE_EXHAUSTED.", 1_048_576, { min: 1024, max: 64 * 1_048_576 }),
    rpcTimeoutMs: integerSetting("RPC_TIMEOUT_MS", "Longest a handler may run (a shorter client deadline wins).", 30_000, { min: 100, max: 600_000 }),
    signatureVerification: enumSetting("SIGNATURE_VERIFICATION", "Where Ed25519 signatures of calls and answers are verified: `verifier-thread` (a thread of the service's own, beside the event loop, fed in batches, with libsodium; without libsodium, libuv's pool; for a service with a core to spare), `thread-pool` (libuv's pool, with node:crypto, a hand-over per signature; the default before `verifier-thread`, which needs less CPU) or `event-loop` (in place, with libsodium when it loads; less CPU in all where several services share a few cores; docs/performance.md). The verdicts are the same.", "verifier-thread", ["verifier-thread", "thread-pool", "event-loop"] as const),
    callsPerTurn: integerSetting("CALLS_PER_TURN", "Most incoming gRPC calls the service starts handling, and answers to its own outgoing calls it takes back, in one turn of its event loop; the rest wait for the next turns, in order (0: no limit; the queue shows as clearmesh_calls_waiting_for_turn). Where several services share a few cores, a burst of calls then moves on in parts instead of as one convoy (docs/performance.md).", 0, { min: 0, max: 10_000 }),
    signatureMaxSkewMs: integerSetting("SIGNATURE_MAX_SKEW_MS", "Largest |now - cm-timestamp| accepted (STALE_TIMESTAMP beyond).", 300_000, { min: 1_000, max: 3_600_000 }),
    nonceCacheMaxPerParticipant: integerSetting("NONCE_CACHE_MAX_PER_PARTICIPANT", "Nonces remembered per participant inside the window; beyond it calls get RESOURCE_EXHAUSTED.", 200_000, { min: 100, max: 10_000_000 }),
    directoryResyncMs: integerSetting("DIRECTORY_RESYNC_MS", "Interval of the full directory re-read from clearing (events apply changes at once).", 30_000, { min: 1_000, max: 3_600_000 }),
    shutdownGraceMs: integerSetting("SHUTDOWN_GRACE_MS", "Time in-flight calls get to finish on SIGINT/SIGTERM.", 10_000, { min: 0, max: 600_000 }),
  } satisfies SettingsSchema;
}

export type CommonSettingsSchema = ReturnType<typeof commonSettings>;

/** Participants a service hosts and signs for (banks, wallet providers, acquirers). */
export function hostedParticipantsSetting(fallback: readonly string[]) {
  return {
    ...stringSetting("HOSTED_PARTICIPANTS", "Comma-separated participant ids this process hosts; each needs `<data>/keys/<id>.key`.", fallback.join(","), /^([a-z0-9][a-z0-9-]{2,31})(,[a-z0-9][a-z0-9-]{2,31})*$/),
  };
}

/**
 * The key id of each hosted participant's key file whose key is not its first (`<id>-1`), so a
 * hosted key can rotate: `bank-a:bank-a-2[,…]`. Every id must be hosted (loadHostedKeys checks).
 */
export function hostedKeyIdsSetting() {
  return {
    env: "HOSTED_KEY_IDS",
    doc: "Key ids of hosted participants' key files when not `<id>-1` (after a rotation): `participant-id:key-id[,…]`, each participant one of HOSTED_PARTICIPANTS.",
    fallback: "",
    fallbackText: "none (every hosted key is `<id>-1`)",
    parse: parseHostedKeyIds,
  } satisfies Setting<ReadonlyMap<string, string>>;
}

export function parseHostedKeyIds(raw: string): ReadonlyMap<string, string> {
  const keyIds = new Map<string, string>();
  for (const entry of raw.split(",").map((text) => text.trim()).filter(Boolean)) {
    const colon = entry.indexOf(":");
    const participantId = entry.slice(0, colon);
    const keyId = entry.slice(colon + 1);
    if (colon < 0 || !PARTICIPANT_ID_PATTERN.test(participantId) || !KEY_ID_PATTERN.test(keyId)) {
      throw new Error(`expected participant-id:key-id, got ${JSON.stringify(entry)}`);
    }
    if (keyIds.has(participantId)) throw new Error(`${participantId} is named twice`);
    keyIds.set(participantId, keyId);
  }
  return keyIds;
}

/** Reads a key file in `<data>/keys` when it exists (keys created by `npm start`). */
function keysFile(name: string) {
  return (environment: Record<string, string | undefined>): string | undefined => {
    const file = path.join(dataDir(environment), "keys", name);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : undefined;
  };
}

/**
 * NaCl secretbox data keys for sealing sensitive fields at rest: `k1:<64 hex>[,k2:<64 hex>…]`,
 * the first one seals, every one opens (so keys rotate). Secret.
 */
export function dataKeysSetting() {
  return {
    env: "DATA_KEYS",
    doc: "Data keys sealing sensitive fields at rest (account numbers, card numbers, personal data): `id:<64 hex>[,id:<64 hex>…]`; the first seals, all open.",
    fallback: keysFile("data-keys"),
    fallbackText: "`<data>/keys/data-keys` when present, else required",
    secret: true,
    parse: parseDataKeys,
  } satisfies Setting<DataKeyRing>;
}

/** The key ring shared by the services that request notifications and the notifier. Secret. */
export function notifyDataKeysSetting() {
  return {
    env: "NOTIFY_DATA_KEYS",
    doc: "Data keys sealing the sensitive parameters of clearmesh.notify.requested (recipients, one-time codes), shared with the notifier: `id:<64 hex>[,…]`.",
    fallback: keysFile("notify-data-keys"),
    fallbackText: "`<data>/keys/notify-data-keys` when present, else required",
    secret: true,
    parse: parseDataKeys,
  } satisfies Setting<DataKeyRing>;
}

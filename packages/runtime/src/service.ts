// One way to boot a service: validated settings, identity key, store and migrations, NATS and
// streams, the outbox relay, the directory, both ports, and graceful shutdown in order
// (stop accepting, finish in-flight calls, stop relays and consumers, drain NATS, close the store).
import fs from "node:fs";
import type { DescFile } from "@bufbuild/protobuf";
import type { JetStreamClient, NatsConnection } from "nats";
import { ClearingService } from "@clearmesh/contracts";
import { StreamReplicasError, busMigrations, connectNats, ensureClearmeshStreams, outboxMigrations, startOutboxRelay, type OutboxRelay } from "@clearmesh/bus";
import { openStore, type Migration, type Store } from "@clearmesh/store";
import { setSignatureVerification, type KeyLookup, type SigningKey } from "@clearmesh/trust";
import { createSignedClient, type ClientTls, type SignedClient } from "./client.js";
import type { Settings } from "./config.js";
import { Directory } from "./directory.js";
import { startDirectorySync, type DirectorySync } from "./directory-sync.js";
import { loadSigningKey } from "./keyfiles.js";
import { createLogger, type Logger } from "./logging.js";
import { createServiceMetrics, type ServiceMetrics } from "./metrics.js";
import type { ServiceRegistration } from "./registration.js";
import { startServer, type RunningServer } from "./server.js";
import type { CommonSettingsSchema, ServiceName } from "./settings.js";
import { setCallsPerTurn } from "./turns.js";

export type CommonSettings = Settings<CommonSettingsSchema>;

/** What a service's build function receives: every real part, already started. */
export interface ServiceDeps<S extends CommonSettings> {
  settings: S;
  logger: Logger;
  metrics: ServiceMetrics;
  identity: SigningKey;
  store: Store;
  nc: NatsConnection;
  js: JetStreamClient;
  outbox: OutboxRelay;
  directory: Directory;
  clientTls?: ClientTls;
  /** A signed client of clearing as this service's identity (absent in clearing itself). */
  clearing?: SignedClient<typeof ClearingService>;
}

export interface BuiltService {
  registrations: readonly ServiceRegistration[];
  files: readonly DescFile[];
  /** Resolves when the service may report SERVING (default: the directory is loaded). */
  ready?: Promise<void>;
  /** Stops the service's own loops and consumers (before NATS drains and the store closes). */
  stop?: () => Promise<void>;
  /** Keys of signers that are not scheme participants, e.g. merchants (see PipelineOptions.extraKeyLookup). */
  extraKeyLookup?: KeyLookup;
}

export interface ServiceSpec<S extends CommonSettings> {
  name: ServiceName;
  settings: S;
  migrations: readonly Migration[];
  build(deps: ServiceDeps<S>): Promise<BuiltService>;
  logger?: Logger;
}

export interface RunningService {
  readonly name: ServiceName;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly server: RunningServer;
  readonly directory: Directory;
  readonly store: Store;
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export async function startService<S extends CommonSettings>(spec: ServiceSpec<S>): Promise<RunningService> {
  const { settings } = spec;
  setSignatureVerification(settings.signatureVerification);
  setCallsPerTurn(settings.callsPerTurn);
  const logger = spec.logger ?? createLogger({ service: spec.name, level: settings.logLevel });
  const identity = loadSigningKey(settings.identityKeyFile, spec.name, settings.identityKeyId);
  const metrics = createServiceMetrics(spec.name);
  const store = await openStore({ url: settings.storeUrl });
  const stops: Array<() => Promise<unknown>> = [() => store.close()];
  try {
    await store.migrate([...outboxMigrations, ...busMigrations, ...spec.migrations]);
    const nc = await connectNats({ url: settings.natsUrl, name: spec.name, logger: logger });
    stops.unshift(() => nc.drain());
    await ensureClearmeshStreams(nc, { replicas: settings.streamReplicas }).catch((error: unknown) => {
      throw error instanceof StreamReplicasError ? new Error(`STREAM_REPLICAS=${settings.streamReplicas}: ${error.message}`, { cause: error }) : error;
    });
    const js = nc.jetstream();
    const outbox = startOutboxRelay({ store, js, nc, logger: logger });
    stops.unshift(() => outbox.stop());
    collectOutboxLag(metrics, outbox);
    const directory = new Directory([
      { participantId: "operator", ...settings.operatorPublicKey },
      { participantId: "clearing", ...settings.clearingPublicKey },
    ]);
    const clientTls = clientTlsOf(settings);
    const clearing = spec.name === "clearing" ? undefined : createSignedClient(ClearingService, {
      address: settings.clearingAddress, signer: identity, responseKeys: directory.lookupKey, expectedResponder: "clearing", tls: clientTls,
    });
    if (clearing) stops.unshift(async () => clearing.close());
    const sync: DirectorySync | undefined = clearing
      ? startDirectorySync({ directory, nc, clearing, logger, resyncMs: settings.directoryResyncMs, onInvalid: (reason) => metrics.invalidEvents.inc({ consumer: "directory", reason }) })
      : undefined;
    if (sync) stops.unshift(() => sync.stop());
    const built = await spec.build({ settings, logger, metrics, identity, store, nc, js, outbox, directory, clientTls, clearing });
    if (built.stop) stops.unshift(built.stop);
    const server = await startServer({
      name: spec.name, identity, directory, registrations: built.registrations, files: built.files, metrics, logger, extraKeyLookup: built.extraKeyLookup,
      bindHost: settings.bindHost, grpcPort: settings.grpcPort, httpPort: settings.httpPort,
      maxRequestBytes: settings.maxRequestBytes, rpcTimeoutMs: settings.rpcTimeoutMs,
      signatureMaxSkewMs: settings.signatureMaxSkewMs, nonceCacheMaxPerParticipant: settings.nonceCacheMaxPerParticipant,
      tls: settings.tlsCertFile && settings.tlsKeyFile ? { certFile: settings.tlsCertFile, keyFile: settings.tlsKeyFile, clientCaFile: settings.tlsClientCaFile } : undefined,
    });
    const ready = Promise.all([built.ready, sync?.ready]).then(() => {
      server.health.set(true);
      logger.info("serving");
    });
    // A standby stopped before it became active never gets ready; that is not an error.
    ready.catch((error: Error) => logger.info({ reason: error.message }, "stopped before serving"));
    let stopping: Promise<void> | undefined;
    return {
      name: spec.name, grpcPort: server.grpcPort, httpPort: server.httpPort, server, directory, store, ready,
      stop: () => (stopping ??= (async () => {
        await server.close(settings.shutdownGraceMs);
        await runStops(stops, logger);
        logger.info("stopped");
      })()),
    };
  } catch (error) {
    await runStops(stops, logger);
    throw error;
  }
}

async function runStops(stops: ReadonlyArray<() => Promise<unknown>>, logger: Logger): Promise<void> {
  for (const stop of stops) {
    try {
      await stop();
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "error during shutdown");
    }
  }
}

function collectOutboxLag(metrics: ServiceMetrics, outbox: OutboxRelay): void {
  const timer = setInterval(() => {
    const lag = outbox.lag();
    metrics.outboxPending.set(lag.pending);
    metrics.outboxOldestAgeSeconds.set(lag.oldestAgeMs / 1000);
  }, 1_000);
  timer.unref();
}

function clientTlsOf(settings: CommonSettings): ClientTls | undefined {
  if (!settings.tlsCaFile) return undefined;
  return {
    caPem: fs.readFileSync(settings.tlsCaFile),
    certPem: settings.tlsCertFile ? fs.readFileSync(settings.tlsCertFile) : undefined,
    keyPem: settings.tlsKeyFile ? fs.readFileSync(settings.tlsKeyFile) : undefined,
  };
}

/** Runs a service as a process: exits non-zero with a clear message on a bad start; stops cleanly on SIGINT/SIGTERM. */
export async function runServiceProcess(start: () => Promise<RunningService>): Promise<void> {
  let running: RunningService;
  try {
    running = await start();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const onSignal = (signal: string) => {
    process.stderr.write(`${running.name}: ${signal}, shutting down\n`);
    void running.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));
}

// Boots one service's two ports: the gRPC port (h2-server.ts: partners, services, grpcurl) and
// connect-node on the HTTP port (Connect, gRPC-Web, /metrics, /healthz), over the same handlers.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { DescFile } from "@bufbuild/protobuf";
import { healthV1, reflectionV1, reflectionV1alpha } from "@clearmesh/contracts";
import type { KeyLookup, SigningKey } from "@clearmesh/trust";
import type { Logger } from "pino";
import type { Directory } from "./directory.js";
import { grpcRoutes } from "./grpc-transport.js";
import { startGrpcServer } from "./h2-server.js";
import { gracefulClose, readTlsFiles, secureServerOptions, type TlsFiles } from "./listening.js";
import { Code, ConnectError } from "./errors.js";
import { HealthState, healthImpl } from "./health.js";
import { createHttpHandler } from "./http-transport.js";
import type { ServiceMetrics } from "./metrics.js";
import { CallPipeline } from "./pipeline.js";
import { ReflectionIndex, reflectionV1Impl, reflectionV1alphaImpl } from "./reflection.js";
import { registration, type ServiceRegistration } from "./registration.js";

export type { TlsFiles };

export interface ServerOptions {
  name: string;
  identity: SigningKey;
  directory: Directory;
  registrations: readonly ServiceRegistration[];
  /** Files served by reflection (their dependencies are added). */
  files: readonly DescFile[];
  metrics: ServiceMetrics;
  logger: Logger;
  bindHost: string;
  grpcPort: number;
  httpPort: number;
  maxRequestBytes: number;
  rpcTimeoutMs: number;
  signatureMaxSkewMs: number;
  nonceCacheMaxPerParticipant: number;
  tls?: TlsFiles;
  /** Keys of signers outside the directory (see PipelineOptions.extraKeyLookup). */
  extraKeyLookup?: KeyLookup;
}

export interface RunningServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly health: HealthState;
  readonly pipeline: CallPipeline;
  /** Stops accepting, lets in-flight calls finish for up to graceMs, then closes what remains. */
  close(graceMs: number): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const shutdown = new AbortController();
  const draining = new AbortController();
  const pipeline = new CallPipeline({
    identity: options.identity,
    directory: options.directory,
    metrics: options.metrics,
    maxSkewMs: options.signatureMaxSkewMs,
    maxNoncesPerParticipant: options.nonceCacheMaxPerParticipant,
    rpcTimeoutMs: options.rpcTimeoutMs,
    extraKeyLookup: options.extraKeyLookup,
  });
  const serviceNames = options.registrations.map((entry) => entry.service.typeName);
  const health = new HealthState(serviceNames);
  const allNames = [...serviceNames, healthV1.Health.typeName, reflectionV1.ServerReflection.typeName, reflectionV1alpha.ServerReflection.typeName];
  const index = new ReflectionIndex([...options.files, healthV1.file_grpc_health_v1_health, reflectionV1.file_grpc_reflection_v1_reflection, reflectionV1alpha.file_grpc_reflection_v1alpha_reflection], allNames);
  const registrations = [
    ...options.registrations,
    registration(healthV1.Health, healthImpl(health), { infrastructure: true }),
    registration(reflectionV1.ServerReflection, reflectionV1Impl(index), { infrastructure: true }),
    registration(reflectionV1alpha.ServerReflection, reflectionV1alphaImpl(index), { infrastructure: true }),
  ];
  const grpcServer = await startGrpcServer(grpcRoutes(registrations, pipeline, shutdown.signal, draining.signal), {
    host: options.bindHost,
    port: options.grpcPort,
    maxReceiveBytes: options.maxRequestBytes,
    maxSendBytes: 16 * options.maxRequestBytes,
    tls: options.tls ? readTlsFiles(options.tls) : undefined,
  });
  const httpServer = await startHttp(options, registrations, pipeline, health, shutdown.signal);
  options.logger.info({ grpcPort: grpcServer.port, httpPort: httpServer.port, tls: Boolean(options.tls) }, "listening");
  return {
    grpcPort: grpcServer.port,
    httpPort: httpServer.port,
    health,
    pipeline,
    async close(graceMs) {
      health.set(false);
      // Watchers see NOT_SERVING first; then their streams end UNAVAILABLE instead of holding the close.
      setImmediate(() => draining.abort(new ConnectError("the server is shutting down", Code.Unavailable)));
      await Promise.all([grpcServer.close(graceMs), httpServer.close(graceMs)]);
      shutdown.abort();
    },
  };
}

interface Listening {
  port: number;
  close(graceMs: number): Promise<void>;
}

async function startHttp(options: ServerOptions, registrations: readonly ServiceRegistration[], pipeline: CallPipeline, health: HealthState, signal: AbortSignal): Promise<Listening> {
  const handler = createHttpHandler({
    registrations,
    pipeline,
    maxRequestBytes: options.maxRequestBytes,
    shutdownSignal: signal,
    extraRoutes: {
      "/metrics": async (_request, response) => {
        const body = await options.metrics.registry.metrics();
        (response as http.ServerResponse).writeHead(200, { "content-type": options.metrics.registry.contentType });
        response.end(body);
      },
      "/healthz": (_request, response) => {
        (response as http.ServerResponse).writeHead(health.serving ? 200 : 503, { "content-type": "application/json" });
        response.end(JSON.stringify({ service: options.name, serving: health.serving }));
      },
    },
  });
  // Plain HTTP/1.1 when there is no certificate (curl, gRPC-Web from browsers through a proxy);
  // HTTP/2 with HTTP/1.1 fallback over TLS.
  const server = options.tls
    ? http2.createSecureServer({ ...secureServerOptions(readTlsFiles(options.tls)), allowHTTP1: true }, handler as never)
    : http.createServer(handler as never);
  const close = gracefulClose(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.httpPort, options.bindHost, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, close };
}

import { Events, connect } from "nats";
import type { NatsConnection } from "nats";
import type { BusLogger } from "./logger.js";
import { errorText, silentLogger } from "./logger.js";

/** Waits between reconnect attempts; bounded so an outage is noticed within a second or so. */
export const NATS_RECONNECT_WAIT_MS = 1_000;
/** Spread of the reconnect wait, so many services do not reconnect in lockstep. */
const NATS_RECONNECT_JITTER_MS = 100;
/** How long the first connection attempt may take before startup fails. */
export const NATS_CONNECT_TIMEOUT_MS = 5_000;

/** Nothing answered at the NATS URL when the service started. */
export class NatsUnavailableError extends Error {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    super(`NATS is not reachable at ${url} (${errorText(cause)}); start nats-server with JetStream (-js) or set NATS_URL`, {
      cause,
    });
    this.name = "NatsUnavailableError";
    this.url = url;
  }
}

export interface ConnectNatsOptions {
  url: string;
  /** Connection name shown by the server's monitoring (use the service name). */
  name: string;
  logger?: BusLogger;
  reconnectWaitMs?: number;
  connectTimeoutMs?: number;
}

/**
 * Connects once (failing fast with NatsUnavailableError), then reconnects forever: a service
 * must outlive NATS restarts, and the outbox holds events until the bus is back.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsConnection> {
  const logger = options.logger ?? silentLogger;
  let connection: NatsConnection;
  try {
    connection = await connect({
      servers: options.url,
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: options.reconnectWaitMs ?? NATS_RECONNECT_WAIT_MS,
      reconnectJitter: NATS_RECONNECT_JITTER_MS,
      timeout: options.connectTimeoutMs ?? NATS_CONNECT_TIMEOUT_MS,
      waitOnFirstConnect: false,
      // An Error (for its stack) built on every request and publish cost about 5% of clearing's
      // CPU under load (docs/performance.md); errors still say what failed.
      noAsyncTraces: true,
    });
  } catch (error) {
    throw new NatsUnavailableError(options.url, error);
  }
  void logConnectionEvents(connection, options.url, logger);
  return connection;
}

async function logConnectionEvents(connection: NatsConnection, url: string, logger: BusLogger): Promise<void> {
  try {
    for await (const status of connection.status()) {
      switch (status.type) {
        case Events.Disconnect:
          logger.warn({ url, server: status.data }, "NATS disconnected; reconnecting");
          break;
        case Events.Reconnect:
          logger.info({ url, server: status.data }, "NATS reconnected");
          break;
        case Events.Error:
          logger.error({ url, error: String(status.data) }, "NATS connection error");
          break;
        default:
          logger.debug({ url, type: status.type, data: status.data }, "NATS status");
      }
    }
  } catch (error) {
    logger.error({ url, error: errorText(error) }, "NATS status stream failed");
  }
}

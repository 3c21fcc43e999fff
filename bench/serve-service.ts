// B3's servers: one service of the mesh (clearing, the e-commerce connector or the wallet) in a
// process of its own, so its CPU and RSS are its own. The harness (bench/b3.ts) makes the shared
// data folder with every key first and gives each service its settings as JSON; the service
// keeps its own SQLite file there (`<data>/<service>.db`). Clearing starts the one nats-server
// of the mesh unless NATS_URL is given (its CPU is reported as clearing's helper CPU); the
// connector starts a local HTTP sink that answers every webhook 204 (its CPU counts as the
// connector's). Prints one JSON line with the ports, then answers the harness over IPC
// (bench/server-child.ts): stats with service-specific figures (outbox rows not yet published,
// webhooks not yet delivered, payments still pending), and stop.
//
//   node --import tsx bench/serve-service.ts <clearing|e-commerce-connector|wallet> '<environment as JSON>'
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { WebhookDeliveryState } from "@clearmesh/contracts";
import { createLogger, loadSettings, type RunningService } from "@clearmesh/runtime";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { commerceConnectorSettingsSchema, startCommerceConnector } from "@clearmesh/e-commerce-connector";
import { startWallet, walletSettingsSchema } from "@clearmesh/wallet";
import { serveRunningService, serviceEnvironment } from "./server-child.js";

export type MeshServiceName = "clearing" | "e-commerce-connector" | "wallet";

export interface MeshServiceInfo {
  service: MeshServiceName;
  pid: number;
  grpcPort: number;
  httpPort: number;
  /** Clearing: the mesh's nats-server. */
  natsUrl?: string;
  /** The connector: where merchants' webhooks are delivered (a local sink answering 204). */
  webhookSinkUrl?: string;
}

const [service, environmentJson] = process.argv.slice(2) as [MeshServiceName | undefined, string | undefined];
if (!service || !["clearing", "e-commerce-connector", "wallet"].includes(service) || !environmentJson) {
  process.stderr.write("usage: serve-service.ts <clearing|e-commerce-connector|wallet> '<environment json>'\n");
  process.exit(2);
}
const given = JSON.parse(environmentJson) as Record<string, string>;
let nats: TestNatsServer | undefined;
let sink: http.Server | undefined;
let webhooksReceived = 0;

try {
  const natsUrl = given.NATS_URL || (nats = await startNatsServer()).url;
  // The service's settings in this environment (a variant's), then the harness's own (bench/b3.ts's JSON).
  const schema = { clearing: clearingSettingsSchema, "e-commerce-connector": commerceConnectorSettingsSchema, wallet: walletSettingsSchema }[service]();
  const environment = serviceEnvironment(schema, { ...given, NATS_URL: natsUrl });
  // Logs go to stderr: stdout carries the one JSON line the harness reads.
  const logger = createLogger({ service, level: environment.LOG_LEVEL!, destination: process.stderr });
  let running: RunningService;
  const extra: Array<() => Promise<Record<string, number>>> = [];
  if (service === "clearing") {
    running = await startClearing(loadSettings(clearingSettingsSchema(), environment), { logger });
  } else if (service === "e-commerce-connector") {
    sink = http.createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        webhooksReceived += 1;
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => sink!.listen(0, "127.0.0.1", resolve));
    running = await startCommerceConnector(loadSettings(commerceConnectorSettingsSchema(), environment), { logger });
    extra.push(async () => {
      const [pending] = await running.store.query<{ count: unknown }>("SELECT COUNT(*) AS count FROM webhook_deliveries WHERE state = $1", [WebhookDeliveryState.PENDING]);
      const [failed] = await running.store.query<{ count: unknown }>("SELECT COUNT(*) AS count FROM webhook_attempts WHERE error <> ''");
      return { webhooks_pending: Number(pending?.count ?? 0), webhook_failed_attempts: Number(failed?.count ?? 0), webhooks_received: webhooksReceived };
    });
  } else {
    running = await startWallet(loadSettings(walletSettingsSchema(), environment), { logger });
    extra.push(async () => {
      const [row] = await running.store.query<{ count: unknown }>("SELECT COUNT(*) AS count FROM movements WHERE state = 'pending'");
      return { movements_pending: Number(row?.count ?? 0) };
    });
  }
  await running.ready;

  serveRunningService(running, {
    cleanup,
    extra: async () => {
      const figures: Record<string, number> = {};
      for (const more of extra) Object.assign(figures, await more());
      return figures;
    },
  });
  const info: MeshServiceInfo = {
    service, pid: process.pid, grpcPort: running.grpcPort, httpPort: running.httpPort,
    ...(service === "clearing" ? { natsUrl } : {}),
    ...(sink ? { webhookSinkUrl: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/webhooks` } : {}),
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
} catch (error) {
  process.stderr.write(`serve-service ${service}: ${(error as Error).stack ?? error}\n`);
  await cleanup();
  process.exit(1);
}

/** The data folder is the harness's: it removes it once every service has stopped. */
async function cleanup(): Promise<void> {
  sink?.closeAllConnections();
  await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
  await nats?.stop();
}

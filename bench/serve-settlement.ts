// B4's server (bench/b4.ts): clearing in its own process on a data folder the harness owns and
// keeps between starts (keys in `<folder>/keys`, the SQLite store `<folder>/clearing.db`), with a
// nats-server of its own unless NATS_URL is given. Unlike bench/serve-clearing.ts it registers
// nobody (the harness does, through the API, then seeds the store while this process is stopped)
// and it reports how long clearing took to start on that store and to read its transfer ids.
// Prints one JSON line, then answers the harness over IPC (bench/server-child.ts); stopping
// leaves the folder in place.
//
//   CLEARMESH_DATA_DIR=<folder> [NATS_URL=nats://…] [FEE_SCHEDULE=…] node --import tsx bench/serve-settlement.ts
import { performance } from "node:perf_hooks";
import path from "node:path";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { createLogger, loadSigningKey, loadSettings } from "@clearmesh/runtime";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { Journal } from "../services/clearing/src/engine/journal.js";
import { KnownIds } from "../services/clearing/src/engine/known-ids.js";
import { Ledger } from "../services/clearing/src/engine/ledger.js";
import { loadLedger } from "../services/clearing/src/engine/load.js";
import { serveRunningService, serviceEnvironment } from "./server-child.js";
import { responderKey, type ResponderKey } from "./workloads.js";

export interface SettlementServerInfo {
  grpcPort: number;
  httpPort: number;
  responder: ResponderKey;
  /** From calling startClearing to clearing being ready (store opened, migrations, NATS, directory, engine loaded from the store). */
  startupMs: number;
  /** The engine's own load alone (loadLedger + checkInvariants, as ClearingEngine.start does), repeated once after start-up on clearing's store. */
  ledgerLoadMs: number;
  /** The paged scan of every transfer id into the engine's Bloom filter (which clearing runs in the background once it serves), timed alone after start-up. */
  transferIdsMs: number;
  rssAfterStartBytes: number;
}

const dataDir = process.env.CLEARMESH_DATA_DIR;
if (!dataDir) {
  process.stderr.write("serve-settlement: CLEARMESH_DATA_DIR is required (the harness's folder)\n");
  process.exit(2);
}
let nats: TestNatsServer | undefined;

try {
  const natsUrl = process.env.NATS_URL || (nats = await startNatsServer()).url;
  // Clearing's settings in the environment (B4's FEE_SCHEDULE, a variant's, …), then the harness's own.
  const environment = serviceEnvironment(clearingSettingsSchema(), { CLEARMESH_DATA_DIR: dataDir, NATS_URL: natsUrl });
  const logger = createLogger({ service: "clearing", level: environment.LOG_LEVEL!, destination: process.stderr });
  const started = performance.now();
  const clearing = await startClearing(loadSettings(clearingSettingsSchema(), environment), { logger });
  await clearing.ready;
  const startupMs = performance.now() - started;
  // What the engine did during start-up to rebuild its memory, timed alone: read accounts, the
  // prepared transfers (a scan of the transfers table), the open and unsettled windows with their nets.
  const loadStarted = performance.now();
  const ledger = new Ledger({ get: (participantId) => clearing.directory.get(participantId) }, { thresholdPercent: 80 }, new Journal());
  await loadLedger(clearing.store, ledger, Date.now());
  ledger.checkInvariants();
  const ledgerLoadMs = performance.now() - loadStarted;
  const idsStarted = performance.now();
  await KnownIds.load(clearing.store);
  const transferIdsMs = performance.now() - idsStarted;

  serveRunningService(clearing, { cleanup: async () => nats?.stop() });
  const clearingKey = loadSigningKey(path.join(dataDir, "keys", "clearing.key"), "clearing", "clearing-1");
  const info: SettlementServerInfo = {
    grpcPort: clearing.grpcPort, httpPort: clearing.httpPort,
    responder: responderKey(clearingKey),
    startupMs: Math.round(startupMs), ledgerLoadMs: Math.round(ledgerLoadMs * 10) / 10,
    transferIdsMs: Math.round(transferIdsMs), rssAfterStartBytes: process.memoryUsage.rss(),
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
} catch (error) {
  process.stderr.write(`serve-settlement: ${(error as Error).stack ?? error}\n`);
  await nats?.stop();
  process.exit(1);
}

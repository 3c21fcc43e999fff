// B1/B5's server: clearing in its own process (so its CPU and RSS are its own), on free ports,
// in a temporary data folder, with a nats-server of its own unless NATS_URL is given, and on
// SQLite unless STORE_URL is given. Creates the keys, registers the bench banks with
// operator-signed RegisterParticipant calls (and funds them once clearing has liquidity), prints one JSON line with the ports, the keys
// folder and clearing's public key, then answers the harness over IPC (bench/server-child.ts).
//
//   [NATS_URL=nats://…] [STORE_URL=postgres://…] node --import tsx bench/serve-clearing.ts
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { ClearingService, ParticipantKind } from "@clearmesh/contracts";
import { createLogger, createSignedClient, ensureKeyFiles, loadSettings, type SignedClient } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { serveRunningService, serviceEnvironment } from "./server-child.js";
import { BENCH_BANKS, responderKey, type ResponderKey } from "./workloads.js";

export interface ClearingServerInfo {
  grpcPort: number;
  httpPort: number;
  keysDir: string;
  responder: ResponderKey;
  participants: string[];
  store: "sqlite" | "postgres";
  /** The store's durability settings as the running store reports them. */
  durability: Record<string, string>;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-bench-"));
const keysDir = path.join(dataDir, "keys");
const keys = new Map(["operator", "clearing", ...BENCH_BANKS].map((id) => [id, ensureKeyFiles(keysDir, id)]));
let nats: TestNatsServer | undefined;
const cleanup = async () => {
  await nats?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
};

try {
  const natsUrl = process.env.NATS_URL || (nats = await startNatsServer()).url;
  // Clearing's settings in the environment (STORE_URL for B5, a variant's ANSWERS_PER_TURN, …), then the harness's own.
  const environment = serviceEnvironment(clearingSettingsSchema(), { CLEARMESH_DATA_DIR: dataDir, NATS_URL: natsUrl });
  // Logs go to stderr: stdout carries the one JSON line the harness reads.
  const logger = createLogger({ service: "clearing", level: environment.LOG_LEVEL!, destination: process.stderr });
  const clearing = await startClearing(loadSettings(clearingSettingsSchema(), environment), { logger });
  await clearing.ready;

  const clearingKey = keys.get("clearing")!;
  const operator = createSignedClient(ClearingService, {
    address: `127.0.0.1:${clearing.grpcPort}`, signer: keys.get("operator")!, expectedResponder: "clearing",
    responseKeys: (participantId, keyId) => (participantId === "clearing" && keyId === clearingKey.keyId ? clearingKey.publicKey : undefined),
  });
  for (const [index, participantId] of BENCH_BANKS.entries()) {
    const key = keys.get(participantId)!;
    await operator.registerParticipant({
      participantId, name: `Bench bank ${index + 1}`, kind: ParticipantKind.BANK, currencies: ["EUR", "USD"],
      keys: [{ keyId: key.keyId, publicKey: key.publicKey }],
    });
  }
  await fundBanks(operator);
  operator.close();

  serveRunningService(clearing, { cleanup });
  const info: ClearingServerInfo = {
    grpcPort: clearing.grpcPort, httpPort: clearing.httpPort, keysDir,
    responder: responderKey(clearingKey),
    participants: [...BENCH_BANKS], store: clearing.store.dialect, durability: await durabilityOf(clearing.store),
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
} catch (error) {
  process.stderr.write(`serve-clearing: ${(error as Error).stack ?? error}\n`);
  await cleanup();
  process.exit(1);
}

/**
 * Gives every bench bank ample liquidity and a net debit cap in both currencies, so the clearing
 * engine's liquidity checks never refuse a bench transfer. Clearing without the engine answers
 * UNIMPLEMENTED, which is fine: it has no limits to satisfy.
 */
async function fundBanks(operator: SignedClient<typeof ClearingService>): Promise<void> {
  const amountMinor = 10n ** 15n;
  try {
    for (const participantId of BENCH_BANKS) {
      for (const currency of ["EUR", "USD"]) {
        await operator.depositLiquidity({ requestId: `bench-deposit-${participantId}-${currency}`, participantId, amount: { currency, amountMinor } });
        await operator.setNetDebitCap({ requestId: `bench-cap-${participantId}-${currency}`, participantId, cap: { currency, amountMinor } });
      }
    }
  } catch (error) {
    if ((error as { code?: unknown }).code !== grpc.status.UNIMPLEMENTED) throw error;
  }
}

/** Asks the store itself how durable a commit is (SQLite: synchronous 2 = FULL; PostgreSQL: fsync'd synchronous commit). */
async function durabilityOf(store: Store): Promise<Record<string, string>> {
  const first = async (sql: string) => String(Object.values((await store.query(sql))[0] ?? {})[0]);
  if (store.dialect === "sqlite") {
    const synchronous = await first("PRAGMA synchronous");
    return { journal_mode: await first("PRAGMA journal_mode"), synchronous: ({ "0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA" } as Record<string, string>)[synchronous] ?? synchronous };
  }
  return { synchronous_commit: await first("SHOW synchronous_commit"), fsync: await first("SHOW fsync"), wal_sync_method: await first("SHOW wal_sync_method") };
}

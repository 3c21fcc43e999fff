// Starts the five services in this process on free ports, with their own temporary data folder
// and a nats-server of their own, so mesh tests pass beside a running mesh and beside each other.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { ClearingService } from "@clearmesh/contracts";
import { createLogger, createSignedClient, ensureKeyFiles, loadSettings, type RunningService, type ServiceName, type SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { bankAdapterSettingsSchema, startBankAdapter } from "@clearmesh/bank-adapter";
import { walletSettingsSchema, startWallet } from "@clearmesh/wallet";
import { commerceConnectorSettingsSchema, startCommerceConnector } from "@clearmesh/e-commerce-connector";
import { notifierSettingsSchema, startNotifier } from "@clearmesh/notifier";
import { ONE_MACHINE_PARTICIPANTS, ensureDataKeys } from "../../packages/cli/src/start.js";

export interface TestMesh {
  dataDir: string;
  nats: TestNatsServer;
  services: Record<ServiceName, RunningService>;
  keys: Map<string, SigningKey>;
  /** An operator-signed clearing client that verifies clearing's response signatures. */
  operator: SignedClient<typeof ClearingService>;
  environment: Record<string, string>;
  stop(): Promise<void>;
}

export interface TestMeshOptions {
  /** Extra environment for every service, e.g. STORE_URL or DIRECTORY_RESYNC_MS. */
  environment?: Record<string, string>;
  /** Only clearing (faster, for tests that need no other service). */
  clearingOnly?: boolean;
}

export async function startTestMesh(options: TestMeshOptions = {}): Promise<TestMesh> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-mesh-"));
  const keysDir = path.join(dataDir, "keys");
  const keys = new Map<string, SigningKey>();
  for (const participantId of ["operator", "clearing", ...ONE_MACHINE_PARTICIPANTS.map((entry) => entry.participantId)]) {
    keys.set(participantId, ensureKeyFiles(keysDir, participantId));
  }
  ensureDataKeys(path.join(keysDir, "data-keys"));
  ensureDataKeys(path.join(keysDir, "notify-data-keys"));
  const nats = await startNatsServer();
  const environment: Record<string, string> = {
    CLEARMESH_DATA_DIR: dataDir, NATS_URL: nats.url, GRPC_PORT: "0", HTTP_PORT: "0", LOG_LEVEL: "silent", SHUTDOWN_GRACE_MS: "2000",
    ...options.environment,
  };
  const logger = (service: string) => createLogger({ service, level: process.env.CLEARMESH_TEST_LOG_LEVEL ?? "silent" });
  const services = {} as Record<ServiceName, RunningService>;
  services.clearing = await startClearing(loadSettings(clearingSettingsSchema(), environment), { logger: logger("clearing") });
  await services.clearing.ready;
  const clearingKey = keys.get("clearing")!;
  const operator = createSignedClient(ClearingService, {
    address: `127.0.0.1:${services.clearing.grpcPort}`, signer: keys.get("operator")!, expectedResponder: "clearing",
    responseKeys: (participantId, keyId) => (participantId === "clearing" && keyId === clearingKey.keyId ? clearingKey.publicKey : undefined),
  });
  for (const participant of ONE_MACHINE_PARTICIPANTS) {
    const key = keys.get(participant.participantId)!;
    await operator.registerParticipant({ ...participant, keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
  }
  const stop = async () => {
    operator.close();
    for (const service of Object.values(services).reverse()) await service.stop();
    await nats.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  if (!options.clearingOnly) {
    try {
      let withClearing: Record<string, string> = { ...environment, CLEARING_ADDRESS: `127.0.0.1:${services.clearing.grpcPort}` };
      services["bank-adapter"] = await startBankAdapter(loadSettings(bankAdapterSettingsSchema(), withClearing), { logger: logger("bank-adapter") });
      withClearing = { ...withClearing, BANK_ADAPTER_ADDRESS: `127.0.0.1:${services["bank-adapter"].grpcPort}` };
      services["e-commerce-connector"] = await startCommerceConnector(loadSettings(commerceConnectorSettingsSchema(), withClearing), { logger: logger("e-commerce-connector") });
      withClearing = { ...withClearing, COMMERCE_ADDRESS: `127.0.0.1:${services["e-commerce-connector"].grpcPort}` };
      services.wallet = await startWallet(loadSettings(walletSettingsSchema(), withClearing), { logger: logger("wallet") });
      services.notifier = await startNotifier(loadSettings(notifierSettingsSchema(), withClearing), { logger: logger("notifier") });
      await Promise.all(Object.values(services).map((service) => service.ready));
    } catch (error) {
      await stop();
      throw error;
    }
  }
  return { dataDir, nats, services, keys, operator, environment, stop };
}

/** A client of any service on the mesh, signing as `signer`. */
export function clientFor<S extends Parameters<typeof createSignedClient>[0]>(mesh: TestMesh, service: ServiceName, descriptor: S, signer: SigningKey) {
  const servicePort = mesh.services[service].grpcPort;
  return createSignedClient(descriptor, {
    address: `127.0.0.1:${servicePort}`, signer, expectedResponder: service, responseKeys: mesh.services[service].directory.lookupKey,
  });
}

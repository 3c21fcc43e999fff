// What the connector's service tests share: a test mesh whose connector knows where the
// bank-adapter listens, merchants with keys of their own, a webhook sink that verifies every
// webhook with the connector's public key, funding at clearing, and error inspection.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fromJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ClearingService, CommerceService, WebhookEventSchema, type WebhookEvent } from "@clearmesh/contracts";
import { createLogger, createSignedClient, errorInfo, errorReason, loadSettings, type RunningService, type SignedClient } from "@clearmesh/runtime";
import { createSigningKey, fromHex, generateSeed, headerGetterFromRecord, verifyWebhook, type SigningKey } from "@clearmesh/trust";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";
import { commerceConnectorSettingsSchema, startCommerceConnector } from "../src/index.js";

/** 1 % on payments by wallet providers; acquirers pay refunds without a fee, so positions read plainly. */
export const FEE_SCHEDULE = JSON.stringify([{ currency: "USD", payer_kind: "WALLET_PROVIDER", fixed_minor: "0", basis_points: "100" }]);

export interface CommerceMesh {
  mesh: TestMesh;
  connector(): RunningService;
  /** A CommerceService client of the current connector, signing as `signer` (none: unsigned). */
  commerce(signer?: SigningKey): SignedClient<typeof CommerceService>;
  clearingAs(participantId: string): SignedClient<typeof ClearingService>;
  /** Stops the connector and starts another on the same data folder and store. */
  restartConnector(environment?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export async function startCommerceMesh(environment: Record<string, string> = {}): Promise<CommerceMesh> {
  const mesh = await startTestMesh({ environment: { FEE_SCHEDULE, ...environment } });
  const clients: Array<{ close(): void }> = [];
  const track = <C extends { close(): void }>(client: C) => (clients.push(client), client);
  const restartConnector = async (extra: Record<string, string> = {}) => {
    await mesh.services["e-commerce-connector"].stop();
    // The test mesh's bank-adapter listens on a free port: tell the connector where.
    const settings = loadSettings(commerceConnectorSettingsSchema(), {
      ...mesh.environment, ...extra,
      CLEARING_ADDRESS: `127.0.0.1:${mesh.services.clearing.grpcPort}`,
      BANK_ADAPTER_ADDRESS: `127.0.0.1:${mesh.services["bank-adapter"].grpcPort}`,
    });
    const logger = createLogger({ service: "e-commerce-connector", level: process.env.CLEARMESH_TEST_LOG_LEVEL ?? "silent" });
    mesh.services["e-commerce-connector"] = await startCommerceConnector(settings, { logger });
    await mesh.services["e-commerce-connector"].ready;
  };
  try {
    await restartConnector();
  } catch (error) {
    await mesh.stop();
    throw error;
  }
  return {
    mesh,
    connector: () => mesh.services["e-commerce-connector"],
    commerce: (signer) => track(createSignedClient(CommerceService, {
      address: `127.0.0.1:${mesh.services["e-commerce-connector"].grpcPort}`, signer, expectedResponder: "e-commerce-connector",
      responseKeys: mesh.services["e-commerce-connector"].directory.lookupKey, defaultDeadlineMs: 20_000,
    })),
    clearingAs: (participantId) => track(clientFor(mesh, "clearing", ClearingService, mesh.keys.get(participantId)!)),
    restartConnector,
    async stop() {
      for (const client of clients) client.close();
      await mesh.stop();
    },
  };
}

/** Prefunds a participant at clearing and sets its cap to the same amount (USD). */
export async function fund(mesh: TestMesh, participantId: string, amountMinor: bigint): Promise<void> {
  const requestId = `fund-${participantId}-${Date.now()}`;
  await mesh.operator.depositLiquidity({ requestId, participantId, amount: { currency: "USD", amountMinor } });
  await mesh.operator.setNetDebitCap({ requestId: `${requestId}-cap`, participantId, cap: { currency: "USD", amountMinor } });
}

export async function positionOf(mesh: TestMesh, participantId: string): Promise<{ position: bigint; reserved: bigint }> {
  const position = await mesh.operator.getPosition({ participantId, currency: "USD" });
  return { position: position.positionMinor, reserved: position.reservedMinor };
}

export interface TestMerchant {
  merchantId: string;
  key: SigningKey;
  client: SignedClient<typeof CommerceService>;
}

/** Registers a merchant (operator-signed) with a fresh key, its webhooks going to `sink`. */
export async function registerMerchant(commerceMesh: CommerceMesh, merchantId: string, sink: WebhookSink): Promise<TestMerchant> {
  const key = createSigningKey(merchantId, `${merchantId}-1`, generateSeed());
  await commerceMesh.commerce(commerceMesh.mesh.keys.get("operator")).registerMerchant({
    merchantId, name: `Shop ${merchantId}`, webhookUrl: sink.url(merchantId), keyId: key.keyId, publicKey: key.publicKey, acquirerId: "acquirer-a",
  });
  return { merchantId, key, client: commerceMesh.commerce(key) };
}

/** A wallet-a transfer prepared to `payeeId`, as a wallet would before ConfirmPaymentIntent. */
export async function prepareWalletTransfer(commerceMesh: CommerceMesh, transferId: string, amountMinor: bigint, payeeId = "acquirer-a", payerReference = "wallet-user-42") {
  return commerceMesh.clearingAs("wallet-a").prepareTransfer({
    transferId, payerId: "wallet-a", payeeId, amount: { currency: "USD", amountMinor }, payerReference,
    expiresAt: timestampFromMs(Date.now() + 600_000),
  });
}

export async function failureOf(call: Promise<unknown>): Promise<{ code?: number; reason?: string; metadata: Record<string, string>; message: string }> {
  try {
    await call;
  } catch (error) {
    const info = errorInfo(error);
    return { code: (error as { code?: number }).code, reason: errorReason(error), metadata: { ...(info?.metadata ?? {}) }, message: (error as { details?: string }).details ?? "" };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

export const GrpcCode = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** What the sink answers to the n-th request (1-based) carrying one webhook id. */
export type SinkBehaviour = (attemptOfThisWebhook: number) => number | "hang";

/**
 * A merchant's webhook endpoint (one path per merchant): verifies every request with the
 * connector's public key (PROTOCOL.md §6), counts attempts and 2xx answers per webhook id, and
 * keeps each event once (receivers dedupe by id).
 */
export class WebhookSink {
  readonly events = new Map<string, { merchantId: string; event: WebhookEvent; receivedAtMs: number }>();
  readonly requests: Array<{ merchantId: string; webhookId: string; status: number | "hang"; atMs: number }> = [];
  readonly successes = new Map<string, number>();
  readonly badSignatures: string[] = [];
  private readonly behaviours = new Map<string, SinkBehaviour>();
  private readonly attempts = new Map<string, number>();
  private server: http.Server | undefined;
  private port = 0;

  constructor(private readonly connectorKey: { keyId: string; publicKey: Uint8Array }) {}

  static forMesh(mesh: TestMesh): WebhookSink {
    const hex = fs.readFileSync(path.join(mesh.dataDir, "keys", "e-commerce-connector.pub"), "utf8").trim();
    return new WebhookSink({ keyId: "e-commerce-connector-1", publicKey: fromHex(hex) });
  }

  behave(merchantId: string, behaviour: SinkBehaviour): void {
    this.behaviours.set(merchantId, behaviour);
  }

  url(merchantId: string): string {
    return `http://127.0.0.1:${this.port}/hooks/${merchantId}`;
  }

  eventsOf(merchantId: string): WebhookEvent[] {
    return [...this.events.values()].filter((entry) => entry.merchantId === merchantId).map((entry) => entry.event);
  }

  async start(): Promise<void> {
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => this.handle(request, Buffer.concat(chunks), response));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server!.address() as AddressInfo).port;
  }

  private handle(request: http.IncomingMessage, body: Buffer, response: http.ServerResponse): void {
    const merchantId = (request.url ?? "").replace(/^\/hooks\//, "");
    const verified = verifyWebhook(headerGetterFromRecord(request.headers), body, (keyId) => (keyId === this.connectorKey.keyId ? this.connectorKey.publicKey : undefined), Date.now());
    if (!verified.ok) {
      this.badSignatures.push(verified.reason);
      response.writeHead(401).end();
      return;
    }
    const attempt = (this.attempts.get(verified.id) ?? 0) + 1;
    this.attempts.set(verified.id, attempt);
    const status = this.behaviours.get(merchantId)?.(attempt) ?? 200;
    this.requests.push({ merchantId, webhookId: verified.id, status, atMs: Date.now() });
    if (status === "hang") return;
    if (status >= 200 && status < 300) {
      this.successes.set(verified.id, (this.successes.get(verified.id) ?? 0) + 1);
      if (!this.events.has(verified.id)) {
        this.events.set(verified.id, { merchantId, event: fromJsonString(WebhookEventSchema, body.toString("utf8")), receivedAtMs: Date.now() });
      }
    }
    response.writeHead(status, { "content-type": "text/plain" }).end("ok");
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

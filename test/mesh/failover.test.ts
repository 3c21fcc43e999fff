// Clearing issue acceptance: killing the active clearing instance under load (kill -9) with a
// standby running — the standby takes over, and no acknowledged transfer is lost or applied
// twice. Both instances are real processes on one SQLite store; the leader lock decides.
import { testPorts } from "../support/ports.js";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { ClearingService, ParticipantKind, TransferState } from "@clearmesh/contracts";
import { createSignedClient, ensureKeyFiles, errorReason, type SignedClient } from "@clearmesh/runtime";
import { openStore } from "@clearmesh/store";
import type { SigningKey } from "@clearmesh/trust";

const root = path.resolve(import.meta.dirname, "../..");

const freePorts = testPorts;

describe("clearing failover", () => {
  let dataDir: string;
  let nats: TestNatsServer;
  const instances: ChildProcess[] = [];
  const ports: Array<{ grpc: number; http: number }> = [];
  const keys = new Map<string, SigningKey>();

  function startInstance(index: number): ChildProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "services/clearing/src/main.ts"], {
      cwd: root,
      env: { ...process.env, CLEARMESH_DATA_DIR: dataDir, NATS_URL: nats.url, GRPC_PORT: String(ports[index]!.grpc), HTTP_PORT: String(ports[index]!.http), LOG_LEVEL: "warn", LEADER_POLL_MS: "200" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    instances.push(child);
    return child;
  }

  async function serving(index: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const ok = await fetch(`http://127.0.0.1:${ports[index]!.http}/healthz`).then((response) => response.ok, () => false);
      if (ok) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  const client = (index: number, signer: SigningKey): SignedClient<typeof ClearingService> => createSignedClient(ClearingService, {
    address: `127.0.0.1:${ports[index]!.grpc}`, signer, expectedResponder: "clearing", defaultDeadlineMs: 5_000,
    responseKeys: (participantId, keyId) => (participantId === "clearing" && keyId === "clearing-1" ? keys.get("clearing")!.publicKey : undefined),
  });

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-failover-"));
    for (const participantId of ["operator", "clearing", "bank-a", "bank-b"]) keys.set(participantId, ensureKeyFiles(path.join(dataDir, "keys"), participantId));
    nats = await startNatsServer();
    const [a, b, c, d] = await freePorts(4);
    ports.push({ grpc: a!, http: b! }, { grpc: c!, http: d! });
    startInstance(0);
    expect(await serving(0, 30_000)).toBe(true);
    startInstance(1);
    const operator = client(0, keys.get("operator")!);
    for (const participantId of ["bank-a", "bank-b"]) {
      const key = keys.get(participantId)!;
      await operator.registerParticipant({ participantId, name: participantId, kind: ParticipantKind.BANK, currencies: ["USD"], keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
    }
    await operator.depositLiquidity({ requestId: "failover-fund", participantId: "bank-a", amount: { currency: "USD", amountMinor: 1_000_000_000n } });
    await operator.setNetDebitCap({ requestId: "failover-cap", participantId: "bank-a", cap: { currency: "USD", amountMinor: 1_000_000_000n } });
    operator.close();
  }, 60_000);

  afterAll(async () => {
    for (const child of instances) child.kill("SIGKILL");
    await nats?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("the standby waits, takes over after kill -9, and keeps every acknowledged transfer exactly once", async () => {
    // The standby is up but not serving while the active instance lives.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await serving(1, 500)).toBe(false);

    const clients = [client(0, keys.get("bank-a")!), client(1, keys.get("bank-a")!)];
    const acknowledged = new Map<string, bigint>();
    let next = 0;
    let stop = false;
    /** One payer's loop: each id is retried (same body) against either instance until answered. */
    const worker = async () => {
      while (!stop) {
        next += 1;
        const transferId = `fo-${next}`;
        const amountMinor = BigInt(100 + (next % 50));
        for (let attempt = 0; attempt < 200; attempt += 1) {
          try {
            await clients[attempt % 2]!.createTransfer({ transferId, payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor } });
            acknowledged.set(transferId, amountMinor);
            break;
          } catch (error) {
            const reason = errorReason(error);
            if (reason && !["STANDBY", "STORE_UNAVAILABLE"].includes(reason)) throw error;
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const beforeKill = acknowledged.size;
    instances[0]!.kill("SIGKILL");
    const killedAt = Date.now();
    expect(await serving(1, 15_000)).toBe(true);
    const takeoverMs = Date.now() - killedAt;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    stop = true;
    await Promise.all(workers);
    expect(beforeKill).toBeGreaterThan(0);
    expect(acknowledged.size).toBeGreaterThan(beforeKill);

    // Every acknowledged transfer is committed, with its amount, on the new active instance.
    const reader = client(1, keys.get("bank-b")!);
    for (const [transferId, amountMinor] of acknowledged) {
      const transfer = await reader.getTransfer({ transferId });
      expect([transferId, transfer.state, transfer.amount?.amountMinor]).toEqual([transferId, TransferState.COMMITTED, amountMinor]);
    }
    // Nothing applied twice: the position equals the sum of the committed transfers, each stored once.
    const store = await openStore({ url: `sqlite:${path.join(dataDir, "clearing.db")}` });
    const [totals] = await store.query<{ count: bigint; total: bigint }>("SELECT COUNT(*) AS count, COALESCE(SUM(amount_minor), 0) AS total FROM transfers WHERE state = $1", [BigInt(TransferState.COMMITTED)]);
    await store.close();
    const position = await client(1, keys.get("bank-a")!).getPosition({ participantId: "bank-a", currency: "USD" });
    expect(position.positionMinor).toBe(totals!.total);
    expect(totals!.count).toBeGreaterThanOrEqual(BigInt(acknowledged.size));
    console.info(`failover: ${beforeKill} acknowledged before kill -9, ${acknowledged.size} in all, ${totals!.count} committed; standby serving ${takeoverMs} ms after the kill`);
    for (const entry of clients) entry.close();
    reader.close();
  }, 90_000);
});

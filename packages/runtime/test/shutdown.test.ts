// Graceful shutdown: close(graceMs) stops accepting, lets in-flight calls finish within the
// grace, and ends what is left when the grace runs out.
import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { ClearingService } from "@clearmesh/contracts";
import {
  GrpcCode, grpcClient, makePki, rejectionOf, signingInterceptor, sleep, startHarness, type Harness, type Pki,
} from "./fixtures.js";

const harnesses: Harness[] = [];
const closers: Array<() => void> = [];
let pki: Pki | undefined;

afterAll(async () => {
  for (const close of closers) close();
  await Promise.all(harnesses.map((harness) => harness.close()));
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

async function started(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const harness = await startHarness(options);
  harnesses.push(harness);
  return harness;
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await sleep(10);
  }
}

describe("graceful shutdown", () => {
  it("gRPC: an in-flight call finishes, new calls are refused, close resolves once it is done", async () => {
    const harness = await started();
    const client = grpcClient(harness);
    closers.push(() => client.close());
    await client.getParticipant({ participantId: "bank-a" }); // the connection is up

    const inFlight = client.getTransfer({ transferId: "slow-700" }, { deadlineMs: 5_000 });
    await until(() => harness.log.count("getTransfer") === 1);
    const closeStarted = Date.now();
    const closing = harness.close(5_000);
    expect(harness.server.health.serving).toBe(false);

    await sleep(50);
    const refused = (await rejectionOf(client.getParticipant({ participantId: "bank-a" }, { deadlineMs: 2_000 }))) as { code: number };
    expect(refused.code).toBe(GrpcCode.UNAVAILABLE);

    const transfer = await inFlight;
    expect(transfer.transferId).toBe("slow-700");
    await closing;
    // It waited for the call, not for the whole grace.
    expect(Date.now() - closeStarted).toBeLessThan(3_000);
    expect(harness.log.count("getParticipant")).toBe(1);
  });

  it("Connect: an in-flight call finishes and the port stops accepting", async () => {
    const harness = await started();
    const client = createClient(ClearingService, createConnectTransport({
      baseUrl: harness.httpUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors: [signingInterceptor(harness.keys.bank)],
    }));
    const inFlight = client.getTransfer({ transferId: "slow-700" });
    await until(() => harness.log.count("getTransfer") === 1);
    const closeStarted = Date.now();
    const closing = harness.close(5_000);
    await sleep(50);
    const refused = await rejectionOf(fetch(`${harness.httpUrl}/healthz`));
    expect(refused).toBeInstanceOf(Error);
    expect((await inFlight).transferId).toBe("slow-700");
    await closing;
    expect(Date.now() - closeStarted).toBeLessThan(3_000);
  });

  it("a call still running when the grace ends is cut off, and close does not wait longer", async () => {
    const harness = await started();
    const client = grpcClient(harness);
    closers.push(() => client.close());
    const inFlight = rejectionOf(client.getTransfer({ transferId: "slow-3000" }, { deadlineMs: 5_000 }));
    await until(() => harness.log.count("getTransfer") === 1);
    const closeStarted = Date.now();
    await harness.close(300);
    const elapsed = Date.now() - closeStarted;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1_500);
    const error = (await inFlight) as { code: number };
    expect([GrpcCode.CANCELLED, GrpcCode.UNAVAILABLE]).toContain(error.code);
  });

  it("HTTP/2 over TLS: an in-flight call finishes and an open client session does not hold close for the whole grace", async () => {
    pki = await makePki();
    const harness = await started({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey } });
    const sessionManager = new Http2SessionManager(harness.httpUrl, undefined, { ca: fs.readFileSync(pki.caCert) });
    closers.push(() => sessionManager.abort());
    const client = createClient(ClearingService, createConnectTransport({
      baseUrl: harness.httpUrl, httpVersion: "2", useBinaryFormat: true, sessionManager, interceptors: [signingInterceptor(harness.keys.bank)],
    }));
    const inFlight = client.getTransfer({ transferId: "slow-700" });
    await until(() => harness.log.count("getTransfer") === 1);
    const closeStarted = Date.now();
    const closing = harness.close(5_000);
    expect((await inFlight).transferId).toBe("slow-700");
    await closing;
    expect(Date.now() - closeStarted).toBeLessThan(3_000);
  });
});

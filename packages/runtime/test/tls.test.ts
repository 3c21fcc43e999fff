// TLS and mutual TLS on both ports, with a throwaway CA made by openssl.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { ClearingService } from "@clearmesh/contracts";
import type { ClientTls } from "../src/client.js";
import { GrpcCode, grpcClient, makePki, rejectionOf, signingInterceptor, startHarness, type Harness, type Pki } from "./fixtures.js";

let pki: Pki;
let tlsServer: Harness;
let mtlsServer: Harness;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  pki = await makePki();
  tlsServer = await startHarness({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey } });
  mtlsServer = await startHarness({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.caCert } });
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await Promise.all([tlsServer?.close(), mtlsServer?.close()]);
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

const read = (file: string) => fs.readFileSync(file);

function client(harness: Harness, tls: ClientTls) {
  const created = grpcClient(harness, { tls });
  cleanups.push(() => created.close());
  return created;
}

/** A Connect client over HTTP/2 + TLS; its session is closed in afterAll. */
function connectClient(harness: Harness, nodeOptions: { ca: Buffer; cert?: Buffer; key?: Buffer }) {
  const sessionManager = new Http2SessionManager(harness.httpUrl, undefined, nodeOptions);
  cleanups.push(() => sessionManager.abort());
  return createClient(ClearingService, createConnectTransport({
    baseUrl: harness.httpUrl, httpVersion: "2", useBinaryFormat: true, sessionManager,
    interceptors: [signingInterceptor(harness.keys.bank)],
  }));
}

describe("TLS", () => {
  it("gRPC: a signed call over TLS works with the CA, and the response signature verifies", async () => {
    const participant = await client(tlsServer, { caPem: read(pki.caCert) }).getParticipant({ participantId: "bank-a" });
    expect(participant.participantId).toBe("bank-a");
  });

  it("gRPC: a plaintext client or one not trusting the CA is refused", async () => {
    const plaintext = grpcClient(tlsServer);
    cleanups.push(() => plaintext.close());
    const error = (await rejectionOf(plaintext.getParticipant({ participantId: "bank-a" }, { deadlineMs: 3_000 }))) as { code: number };
    expect([GrpcCode.UNAVAILABLE, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.INTERNAL]).toContain(error.code);
    const untrusting = client(tlsServer, { caPem: read(path.join(pki.dir, "other-ca.crt")) });
    const refused = (await rejectionOf(untrusting.getParticipant({ participantId: "bank-a" }, { deadlineMs: 3_000 }))) as { code: number };
    expect(refused.code).toBe(GrpcCode.UNAVAILABLE);
  });

  it("HTTP port: a Connect call over HTTP/2 + TLS works", async () => {
    const participant = await connectClient(tlsServer, { ca: read(pki.caCert) }).getParticipant({ participantId: "bank-a" });
    expect(participant.participantId).toBe("bank-a");
    const health = await fetch(`${tlsServer.httpUrl}/healthz`).catch((error: unknown) => error);
    // Node's fetch does not trust the test CA: TLS is really on.
    expect(health).toBeInstanceOf(Error);
  });
});

describe("mutual TLS", () => {
  it("gRPC: a client without a certificate is refused", async () => {
    const anonymous = client(mtlsServer, { caPem: read(pki.caCert) });
    const error = (await rejectionOf(anonymous.getParticipant({ participantId: "bank-a" }, { deadlineMs: 3_000 }))) as { code: number };
    expect(error.code).toBe(GrpcCode.UNAVAILABLE);
    expect(mtlsServer.log.count()).toBe(0);
  });

  it("gRPC: a client certificate from another CA is refused", async () => {
    const stranger = client(mtlsServer, { caPem: read(pki.caCert), certPem: read(pki.strangerCert), keyPem: read(pki.strangerKey) });
    const error = (await rejectionOf(stranger.getParticipant({ participantId: "bank-a" }, { deadlineMs: 3_000 }))) as { code: number };
    expect(error.code).toBe(GrpcCode.UNAVAILABLE);
    expect(mtlsServer.log.count()).toBe(0);
  });

  it("gRPC: a client with a certificate from the CA is served", async () => {
    const trusted = client(mtlsServer, { caPem: read(pki.caCert), certPem: read(pki.clientCert), keyPem: read(pki.clientKey) });
    expect((await trusted.getParticipant({ participantId: "bank-a" })).participantId).toBe("bank-a");
  });

  it("HTTP port: a Connect call needs the client certificate too", async () => {
    const anonymous = await rejectionOf(connectClient(mtlsServer, { ca: read(pki.caCert) }).getParticipant({ participantId: "bank-a" }, { timeoutMs: 3_000 }));
    expect(anonymous).toBeInstanceOf(ConnectError);
    expect([Code.Unavailable, Code.Unknown, Code.Internal, Code.Canceled]).toContain((anonymous as ConnectError).code);
    const trusted = connectClient(mtlsServer, { ca: read(pki.caCert), cert: read(pki.clientCert), key: read(pki.clientKey) });
    expect((await trusted.getParticipant({ participantId: "bank-a" })).participantId).toBe("bank-a");
  });
});

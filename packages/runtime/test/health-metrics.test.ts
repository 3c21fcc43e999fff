// grpc.health.v1 on the gRPC port (Check, Watch) and the HTTP port, /healthz, and /metrics.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ClearingService, healthV1 } from "@clearmesh/contracts";
import { createSignedClient, type SignedClient } from "../src/client.js";
import { GrpcCode, grpcClient, rejectionOf, startHarness, type Harness } from "./fixtures.js";

const { HealthCheckResponse_ServingStatus: ServingStatus } = healthV1;
const WATCH = "/grpc.health.v1.Health/Watch";

let harness: Harness;
let health: SignedClient<typeof healthV1.Health>;
let rawClient: grpc.Client;

beforeAll(async () => {
  harness = await startHarness({ serving: false });
  health = createSignedClient(healthV1.Health, { address: harness.grpcAddress, defaultDeadlineMs: 5_000 });
  rawClient = new grpc.Client(harness.grpcAddress, grpc.credentials.createInsecure());
});

afterAll(async () => {
  health?.close();
  rawClient?.close();
  await harness?.close();
});

/** Opens a Watch stream and collects the statuses it sends. */
function watch(service: string): { statuses: number[]; next(count: number): Promise<void>; cancel(): void } {
  const statuses: number[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const request = toBinary(healthV1.HealthCheckRequestSchema, create(healthV1.HealthCheckRequestSchema, { service }));
  const call = rawClient.makeServerStreamRequest<Uint8Array, Buffer>(
    WATCH, (message) => Buffer.from(message), (buffer) => buffer, request, new grpc.Metadata(), {},
  );
  call.on("data", (buffer: Buffer) => {
    statuses.push(fromBinary(healthV1.HealthCheckResponseSchema, buffer).status);
    for (const waiter of waiters.filter((entry) => statuses.length >= entry.count)) waiter.resolve();
  });
  call.on("error", () => undefined);
  return {
    statuses,
    next: (count) => new Promise<void>((resolve, reject) => {
      if (statuses.length >= count) return resolve();
      const timer = setTimeout(() => reject(new Error(`watch saw ${JSON.stringify(statuses)}, wanted ${count} statuses`)), 3_000);
      waiters.push({ count, resolve: () => { clearTimeout(timer); resolve(); } });
    }),
    cancel: () => call.cancel(),
  };
}

describe("health", () => {
  it("reports NOT_SERVING before set(true), on gRPC and /healthz, and SERVING after; Watch streams the change", async () => {
    const watcher = watch("");
    await watcher.next(1);
    expect(watcher.statuses[0]).toBe(ServingStatus.NOT_SERVING);

    expect((await health.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await health.check({ service: ClearingService.typeName })).status).toBe(ServingStatus.NOT_SERVING);
    const before = await fetch(`${harness.httpUrl}/healthz`);
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ service: "clearing", serving: false });

    harness.server.health.set(true);
    await watcher.next(2);
    expect(watcher.statuses).toEqual([ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
    watcher.cancel();

    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await health.check({ service: ClearingService.typeName })).status).toBe(ServingStatus.SERVING);
    const after = await fetch(`${harness.httpUrl}/healthz`);
    expect(after.status).toBe(200);
    expect(await after.json()).toEqual({ service: "clearing", serving: true });
  });

  it("answers NOT_FOUND for an unknown service", async () => {
    const error = (await rejectionOf(health.check({ service: "no.such.Service" }))) as { code: number };
    expect(error.code).toBe(GrpcCode.NOT_FOUND);
  });

  it("Watch of an unknown service streams SERVICE_UNKNOWN", async () => {
    const watcher = watch("no.such.Service");
    await watcher.next(1);
    expect(watcher.statuses[0]).toBe(ServingStatus.SERVICE_UNKNOWN);
    watcher.cancel();
  });

  it("is unsigned and answers on the HTTP port too", async () => {
    const client = createClient(healthV1.Health, createConnectTransport({ baseUrl: harness.httpUrl, httpVersion: "1.1" }));
    harness.server.health.set(true);
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    const error = await rejectionOf(client.check({ service: "no.such.Service" }));
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });
});

/** The samples of one metric, each with its labels. */
function samples(text: string, metric: string): Array<{ labels: Record<string, string>; value: number }> {
  const found: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split("\n")) {
    const match = new RegExp(`^${metric}\\{(.*)\\} (\\S+)$`).exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((entry) => [entry[1]!, entry[2]!]));
    found.push({ labels, value: Number(match[2]) });
  }
  return found;
}

describe("/metrics", () => {
  it("counts calls by method, code and transport (health and reflection excluded)", async () => {
    const client = grpcClient(harness);
    try {
      await client.getParticipant({ participantId: "bank-a" });
      await client.getParticipant({ participantId: "bank-a" });
      await rejectionOf(client.getParticipant({ participantId: "nobody" }));
      await rejectionOf(client.getParticipant({ participantId: "bank-a" }, { signer: harness.keys.revoked }));
    } finally {
      client.close();
    }
    await health.check({ service: "" });
    const connect = createClient(ClearingService, createConnectTransport({ baseUrl: harness.httpUrl, httpVersion: "1.1", useBinaryFormat: true }));
    await rejectionOf(connect.getParticipant({ participantId: "bank-a" }));

    const response = await fetch(`${harness.httpUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const calls = samples(text, "clearmesh_rpc_calls_total");
    const value = (method: string, code: string, transport: string) =>
      calls.find((entry) => entry.labels.method === method && entry.labels.code === code && entry.labels.transport === transport)?.value;
    const getParticipant = `/${ClearingService.typeName}/GetParticipant`;
    expect(value(getParticipant, "OK", "grpc")).toBe(2);
    expect(value(getParticipant, "NotFound", "grpc")).toBe(1);
    expect(value(getParticipant, "Unauthenticated", "grpc")).toBe(1);
    expect(value(getParticipant, "Unauthenticated", "connect")).toBe(1);
    expect(calls.every((entry) => entry.labels.service === "clearing")).toBe(true);
    expect(calls.some((entry) => entry.labels.method?.startsWith("/grpc."))).toBe(false);

    const failures = samples(text, "clearmesh_signature_failures_total");
    expect(failures.find((entry) => entry.labels.reason === "KEY_REVOKED")?.value).toBe(1);
    expect(failures.find((entry) => entry.labels.reason === "SIGNATURE_MISSING")?.value).toBe(1);
    expect(text).toContain("clearmesh_rpc_duration_seconds_bucket");
  });

  it("answers 404 for an unknown path", async () => {
    expect((await fetch(`${harness.httpUrl}/nope`)).status).toBe(404);
  });
});

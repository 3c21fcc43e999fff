// Small helpers for the clearing engine tests: refusals as data, position snapshots, polling,
// and a verifying event collector on a mesh's nats-server.
import { startConsumer, busMigrations, type VerifiedEvent } from "@clearmesh/bus";
import type { ClearingService, Position } from "@clearmesh/contracts";
import { errorInfo, errorReason } from "@clearmesh/runtime";
import { openStore } from "@clearmesh/store";
import { connect } from "nats";
import type { clientFor, TestMesh } from "../../../test/support/mesh.js";

export type ClearingClient = ReturnType<typeof clientFor<typeof ClearingService>>;

export interface Refusal {
  code?: number;
  reason?: string;
  field?: string;
}

/** The gRPC code, ErrorInfo reason and field of a failed call; `{}` when it succeeded. */
export async function reasonOf(call: Promise<unknown>): Promise<Refusal> {
  try {
    await call;
    return {};
  } catch (error) {
    return { code: (error as { code?: number }).code, reason: errorReason(error), field: errorInfo(error)?.metadata.field };
  }
}

/** Positions of the given accounts, read by the operator ("operator" is the hub's fee account). */
export async function positionsOf(operator: ClearingClient, accounts: ReadonlyArray<readonly [string, string]>): Promise<Position[]> {
  return Promise.all(accounts.map(([participantId, currency]) => operator.getPosition({ participantId, currency })));
}

/** Polls until `probe` returns something other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface EventCollector {
  events: VerifiedEvent[];
  invalid: string[];
  stop(): Promise<void>;
}

/**
 * A durable consumer (deliver all) on one stream of the mesh's nats-server with one wildcard
 * filter (nats-server 2.9 takes one), verifying every envelope against clearing's directory.
 */
export async function collectEvents(mesh: TestMesh, stream: string, filter: string, name: string): Promise<EventCollector> {
  const store = await openStore({ sqlitePath: `${mesh.dataDir}/${name}.db` });
  await store.migrate(busMigrations);
  const nc = await connect({ servers: mesh.nats.url });
  const directory = mesh.services.clearing.directory;
  const events: VerifiedEvent[] = [];
  const invalid: string[] = [];
  const consumer = await startConsumer({
    nc, stream, durable: `${name}-${Date.now()}`, filterSubjects: [filter], store,
    keyLookup: (producer, keyId) => directory.activePublicKey(producer, keyId),
    handler: async (event) => { events.push(event); },
    onInvalid: (reason) => invalid.push(reason),
  });
  return {
    events,
    invalid,
    async stop() {
      await consumer.stop();
      await nc.drain();
      await store.close();
    },
  };
}

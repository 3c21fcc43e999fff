// B2 (issue 7): two-phase transfers, PrepareTransfer signed by the payer and CommitTransfer signed
// by the payee, against a clearing process of its own set up as B1's (bench/serve-clearing.ts:
// SQLite, its own nats-server, four funded banks). One unit is one transfer, prepared and committed, so the
// throughput is transfers/s (two calls each); the ratio to B0 divides it by B0's calls/s.
import { idPrefix, logRun, type CaseContext, type CaseSession } from "./cases.js";
import { runLoad, startClearingServer } from "./harness.js";
import { BENCH_BANKS } from "./workloads.js";

/** How long to wait between runs for clearing's outbox relay to publish what the last run left. */
const OUTBOX_DRAIN_MS = 30_000;

export async function openB2(context: CaseContext): Promise<CaseSession> {
  const server = await startClearingServer({ profileDir: context.profileDir });
  return {
    async measure(count, measurement) {
      server.unpark();
      await server.settle((stats) => (stats.extra.outbox_pending ?? 0) === 0, OUTBOX_DRAIN_MS);
      const { figures } = await runLoad(server, {
        target: server.target, workload: "prepare-commit", inFlight: count, warmupS: measurement.warmupS, durationS: measurement.durationS,
        keysDir: server.info.keysDir, signers: [...BENCH_BANKS], verifyEvery: context.smoke ? 10 : 100, responder: server.info.responder,
        idPrefix: idPrefix(context, "pc", measurement, count),
      });
      const drained = await server.settle((stats) => (stats.extra.outbox_pending ?? 0) === 0, OUTBOX_DRAIN_MS);
      const rpcCalls = figures.calls === null ? 0 : figures.calls * 2;
      logRun(context, measurement, `  ${count} in flight: ${figures.throughput_per_s} transfers/s (${rpcCalls} calls)`);
      return {
        ...figures,
        unit: "transfer (PrepareTransfer by the payer + CommitTransfer by the payee)",
        rpc_calls_per_unit: 2,
        rpc_calls_per_s: figures.duration_s ? Number((rpcCalls / figures.duration_s).toFixed(1)) : null,
        store: server.info.store, durability: server.info.durability, outbox_pending_after_drain: drained.extra.outbox_pending ?? null,
      };
    },
    park: () => server.park(),
    close: () => server.stop(),
  };
}

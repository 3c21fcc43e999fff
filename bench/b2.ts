// B2 (issue 7): two-phase transfers, PrepareTransfer signed by the payer and CommitTransfer signed
// by the payee, against a clearing process of its own set up as B1's (bench/serve-clearing.ts:
// SQLite, its own nats-server, four funded banks). One unit is one transfer, prepared and committed, so the
// throughput is transfers/s (two calls each); the ratio to B0 divides it by B0's calls/s.
import { openClearing, type CaseContext, type CaseSession } from "./cases.js";

export function openB2(context: CaseContext): Promise<CaseSession> {
  return openClearing(context, {
    tag: "pc",
    workload: "prepare-commit",
    describe(figures) {
      const rpcCalls = figures.calls === null ? 0 : figures.calls * 2;
      return {
        fields: {
          unit: "transfer (PrepareTransfer by the payer + CommitTransfer by the payee)",
          rpc_calls_per_unit: 2,
          rpc_calls_per_s: figures.duration_s ? Number((rpcCalls / figures.duration_s).toFixed(1)) : null,
        },
        line: `${figures.throughput_per_s} transfers/s (${rpcCalls} calls)`,
      };
    },
  });
}

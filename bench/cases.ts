// The benchmark cases of issue 7. Each entry says what it measures, its target, the in-flight
// counts of a full run and of a smoke run, and how it runs; cases that need parts not built yet
// are listed with status "not yet built" and no run, so the table shows them without numbers.
// To add a case: give it an `open` that starts what it measures (bench/harness.ts) and returns a
// CaseSession (measure one in-flight count, park between rounds, close), and set its status to
// "available"; the harness warms the session's servers up once and measures them every round. A
// case measured once on servers of its own (B4) gives a `run` instead.
import fs from "node:fs";
import path from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { ClearingService, CreateTransferRequestSchema } from "@clearmesh/contracts";
import { createSignedClient, ensureKeyFiles, keyFilePath, loadSigningKey } from "@clearmesh/runtime";
import { HEADER_KEY_ID, HEADER_PARTICIPANT, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRpcRequest } from "@clearmesh/trust";
import { createTestDatabase } from "@clearmesh/store";
import pg from "pg";
import { openB2 } from "./b2.js";
import { openB3 } from "./b3.js";
import { b4Title, b4TransferCount, runB4 } from "./b4.js";
import { B4_TARGET_TRANSFERS } from "./targets.js";
import { runLoad, startClearingServer, startEchoServer, type MeasuredRow, type RunLoadOptions, type ServerProcess } from "./harness.js";
import { processCpuMs } from "./server-child.js";
import { BENCH_BANKS, CREATE_TRANSFER, transferRequest, type LoadgenConfig } from "./workloads.js";

export interface CaseContext {
  smoke: boolean;
  /** Unique per harness run: transfer ids never repeat across runs on one store. */
  runId: string;
  /** A folder of this run, removed at the end. */
  tempDir: string;
  /** Write a CPU profile of measured clearing processes (node --cpu-prof) here. */
  profileDir?: string;
  log(line: string): void;
}

/** One run of the generator against a case's servers. */
export interface Measurement {
  /**
   * Two characters that every id this run makes carries, so no run repeats another's ids on the
   * same servers: the round ("01", "02", …), or "ww" for the servers' warm-up.
   */
  label: string;
  /** Seconds of load before the window, not measured. */
  warmupS: number;
  /** Seconds of the measured window. */
  durationS: number;
}

/**
 * A case's servers, started once per harness run and kept for every round: the harness warms
 * them up once (their JIT, caches and connections), then measures each round against them.
 */
export interface CaseSession {
  measure(inFlight: number, measurement: Measurement): Promise<MeasuredRow>;
  /** Parks the case's processes between its rounds (ServerProcess.park); measure continues them. */
  park(): void;
  close(): Promise<void>;
}

export interface BenchCase {
  id: string;
  title: string;
  /** The title for this run, where it depends on the run's settings (B4's window size); else `title`. May refuse a malformed setting. */
  titleOf?(settings: Pick<CaseContext, "smoke">): string;
  /** The target from issue 7, as text for the table and the docs. */
  target: string;
  status: "available" | "not yet built";
  /** Why a case cannot run yet. */
  blockedBy?: string;
  inFlight: readonly number[];
  smokeInFlight: readonly number[];
  /** Whether `--smoke` (and so `npm test`) runs it. */
  inSmoke: boolean;
  /** Rounds of a full run this case takes part in at most (default: all). */
  maxRounds?: number;
  /** False for a case whose figure is no call rate (B4's close): it gets no ratio to B0. */
  comparesToB0?: boolean;
  /** Starts the case's servers (kept across rounds; the harness warms them up and closes them). */
  open?(context: CaseContext): Promise<CaseSession>;
  /** A case measured once, on servers of its own (B4): starts, measures and stops them. */
  run?(context: CaseContext, inFlight: readonly number[]): Promise<MeasuredRow[]>;
}

/** Verify one response signature in this many (B1, B5); more often in a smoke run, which makes few calls. */
const verifyEvery = (context: CaseContext) => (context.smoke ? 10 : 100);
/** How long to wait between runs for clearing's outbox relay to publish what the last run left. */
const OUTBOX_DRAIN_MS = 30_000;

/** The servers' warm-up, as a Measurement's label. */
export const WARMUP_LABEL = "ww";

/** Logs a measured run's figure; the servers' warm-up is logged by the harness alone. */
export function logRun(context: CaseContext, measurement: Measurement, line: string): void {
  if (measurement.label !== WARMUP_LABEL) context.log(line);
}

/**
 * The start of every id a run makes: the harness run, the case's tag, the measurement's label
 * (see Measurement) and the in-flight count. B0's and B1's tags have the same length, so their
 * requests have the same size.
 */
export function idPrefix(context: CaseContext, tag: string, label: string, inFlight: number): string {
  return `${context.runId}-${tag}${label}-${String(inFlight).padStart(3, "0")}`;
}

function loadConfig(context: CaseContext, server: ServerProcess<unknown>, keysDir: string, inFlight: number, measurement: Measurement, extra: Partial<LoadgenConfig>): LoadgenConfig {
  return {
    target: server.target, workload: "create-transfer", inFlight, warmupS: measurement.warmupS, durationS: measurement.durationS,
    keysDir, signers: [...BENCH_BANKS], verifyEvery: 0, idPrefix: idPrefix(context, "e0", measurement.label, inFlight), ...extra,
  };
}

let b1Answer: Promise<{ bytes: Uint8Array; headers: Record<string, string> }> | undefined;

/**
 * One real CreateTransfer answer of clearing, as B1 gets it (the generator's request, signed by
 * its payer): B0 answers with these bytes and headers. Captured once per harness run.
 */
function realB1Answer(context: CaseContext): Promise<{ bytes: Uint8Array; headers: Record<string, string> }> {
  b1Answer ??= (async () => {
    const server = await startClearingServer();
    const client = createSignedClient(ClearingService, { address: server.target });
    try {
      const request = transferRequest(idPrefix(context, "sq", "00", 32), 123_456, BENCH_BANKS);
      const bytes = toBinary(CreateTransferRequestSchema, request);
      const payer = loadSigningKey(keyFilePath(server.info.keysDir, request.payerId), request.payerId, `${request.payerId}-1`);
      const answer = await client.raw(CREATE_TRANSFER, bytes, signRpcRequest(payer, CREATE_TRANSFER, bytes));
      const headers: Record<string, string> = {};
      for (const name of [HEADER_PARTICIPANT, HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE]) headers[name] = String(answer.headers.get(name)[0] ?? "");
      return { bytes: answer.bytes, headers };
    } finally {
      client.close();
      await server.stop();
    }
  })();
  return b1Answer;
}

export interface ClearingCaseOptions {
  /** Two characters in every id the case makes. */
  tag: string;
  /** PostgreSQL (B5); SQLite when absent. */
  storeUrl?: string;
  /** CreateTransfer calls unless given (B2: prepare-commit). */
  workload?: LoadgenConfig["workload"];
  load?: RunLoadOptions;
  /** The case's own fields of a row and what its log line says after "<n> in flight: ". */
  describe?(figures: MeasuredRow): { fields: Record<string, unknown>; line: string };
  onClose?(): Promise<void>;
}

/** B1, B2 and B5: a clearing process of the case's own (its nats-server, four funded banks) and the generator's calls at it. */
export async function openClearing(context: CaseContext, options: ClearingCaseOptions): Promise<CaseSession> {
  const server = await startClearingServer({ storeUrl: options.storeUrl, profileDir: context.profileDir });
  return {
    async measure(count, measurement) {
      server.unpark();
      await server.settle((stats) => (stats.extra.outbox_pending ?? 0) === 0, OUTBOX_DRAIN_MS);
      const { figures } = await runLoad(server, loadConfig(context, server, server.info.keysDir, count, measurement, {
        workload: options.workload ?? "create-transfer", verifyEvery: verifyEvery(context), responder: server.info.responder,
        idPrefix: idPrefix(context, options.tag, measurement.label, count),
      }), options.load);
      // Let the relay publish what the window left (not measured), so the next run does not inherit
      // it; a non-zero outbox_pending_after_drain would mean the relay cannot keep up.
      const drained = await server.settle((stats) => (stats.extra.outbox_pending ?? 0) === 0, OUTBOX_DRAIN_MS);
      const { fields, line } = options.describe?.(figures) ?? { fields: {}, line: `${figures.throughput_per_s}/s` };
      logRun(context, measurement, `  ${count} in flight: ${line}`);
      return { ...figures, ...fields, store: server.info.store, durability: server.info.durability, outbox_pending_after_drain: drained.extra.outbox_pending ?? null };
    },
    park: () => server.park(),
    async close() {
      try {
        await server.stop();
      } finally {
        await options.onClose?.();
      }
    },
  };
}

export const CASES: readonly BenchCase[] = [
  {
    id: "B0",
    title: "bare grpc-js unary echo, B1-sized request and response (baseline)",
    target: "the physical limit every other case is compared with",
    status: "available",
    inFlight: [1, 32, 128],
    smokeInFlight: [32],
    inSmoke: true,
    async open(context) {
      // The same generator signs the same requests; the echo server checks nothing and answers
      // every call with one real B1 answer (bytes and cm-* response headers).
      const keysDir = path.join(context.tempDir, "b0-keys");
      for (const id of BENCH_BANKS) ensureKeyFiles(keysDir, id);
      const answer = await realB1Answer(context);
      const server = await startEchoServer(CREATE_TRANSFER, answer.bytes, answer.headers);
      return {
        async measure(count, measurement) {
          server.unpark();
          const { figures } = await runLoad(server, loadConfig(context, server, keysDir, count, measurement, {}));
          logRun(context, measurement, `  ${count} in flight: ${figures.throughput_per_s}/s`);
          return figures;
        },
        park: () => server.park(),
        async close() {
          await server.stop();
          fs.rmSync(keysDir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    id: "B1",
    title: "clearing CreateTransfer on SQLite (signed both ways, durable, event via outbox)",
    target: "at 32 in flight: >= 50% of B0, p99 <= 25 ms; RSS <= 200 MB",
    status: "available",
    inFlight: [1, 32, 128],
    smokeInFlight: [32],
    inSmoke: true,
    open: (context) => openClearing(context, { tag: "sq" }),
  },
  {
    id: "B2",
    title: "PrepareTransfer + CommitTransfer by two signers (transfers/s)",
    target: ">= 25% of B0",
    status: "available",
    inFlight: [32],
    smokeInFlight: [32],
    inSmoke: true,
    open: (context) => openB2(context),
  },
  {
    id: "B3",
    title: "end-to-end wallet payment of a merchant intent",
    target: ">= 7% of B0, p99 <= 150 ms",
    status: "available",
    inFlight: [32],
    smokeInFlight: [32],
    inSmoke: true,
    open: (context) => openB3(context),
  },
  {
    id: "B4",
    title: b4Title(B4_TARGET_TRANSFERS),
    titleOf: (context) => b4Title(b4TransferCount(context)),
    target: "<= 2 s (smoke: 10,000 transfers)",
    status: "available",
    inFlight: [1],
    smokeInFlight: [1],
    inSmoke: true,
    // One close of a million seeded transfers is the figure; its seeding takes most of a round's time.
    maxRounds: 1,
    comparesToB0: false,
    run: (context, inFlight) => runB4(context, inFlight),
  },
  {
    id: "B5",
    title: "B1 with clearing on PostgreSQL",
    target: ">= 25% of B0",
    status: "available",
    inFlight: [32],
    smokeInFlight: [32],
    inSmoke: true,
    async open(context) {
      // Its error names the server (CLEARMESH_TEST_PG_ADMIN_URL) without the URL's password.
      const database = await createTestDatabase().catch((error: unknown) => {
        throw new Error(`B5 needs PostgreSQL for clearing's store: ${(error as Error).message}`, { cause: error });
      });
      const admin = new pg.Client({ connectionString: database.url });
      admin.on("error", () => {});
      const drop = async () => {
        await admin.end().catch(() => {});
        await database.drop();
      };
      try {
        await admin.connect();
        // The PostgreSQL backends serving clearing work for it: their CPU counts as the run's own.
        const backendCpuMs = async () => {
          const { rows } = await admin.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
          return processCpuMs(rows.map((row) => row.pid));
        };
        return await openClearing(context, { tag: "pg", storeUrl: database.url, load: { backendCpuMs }, onClose: drop });
      } catch (error) {
        await drop();
        throw error;
      }
    },
  },
];

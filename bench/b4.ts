// B4 (issue 7): closing a settlement window that holds 1,000,000 committed transfers among 100
// participants (10,000 in a smoke run). What it does, in order (docs/performance.md has the why):
//
//  1. Setup: clearing (bench/serve-settlement.ts) starts on an empty SQLite store in a folder of
//     this run. The harness registers 100 banks with operator-signed RegisterParticipant calls,
//     funds each in EUR and USD (DepositLiquidity, SetNetDebitCap, 10^15 minor units), and sends
//     two real CreateTransfer calls (one per currency), so the open window holds rows the engine
//     itself wrote. Clearing is then stopped.
//  2. Seeding, with clearing stopped, straight into its store (better-sqlite3, one prepared
//     statement, 20,000 rows per transaction, the store's own WAL; those commits unsynced, the
//     last transaction and the checkpoint with synchronous=FULL): the rest of
//     the committed transfers, in the open window, priced with clearing's own fee function. The
//     two engine-written rows are first compared column by column with what the seeder would
//     write for the same transfer. Then, in one transaction, what the engine keeps beside the
//     rows: each account's position, the window's running nets (window_nets) and transfer_count.
//  3. Clearing starts again on that store (the start-up is timed in that process: the engine
//     loads the ledger and checks its invariants), the outbox is allowed to drain, and the
//     harness closes the window with one operator-signed CloseSettlementWindow, timed in the
//     harness process around the call (performance.now(); signing the request and verifying the
//     signed answer included). The answer's net positions, instructions and transfer count must
//     equal what the seeding computed, or the case fails. A second close (of the now empty next
//     window) is timed for reference.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { ClearingService, ParticipantKind, SettlementWindowState, TransferState, type SettlementWindow } from "@clearmesh/contracts";
import { createSignedClient, ensureKeyFiles, type SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";
import { feeFor, parseFeeSchedule, type FeeSchedule } from "../services/clearing/src/pricing/fees.js";
import { ServerProcess, type MeasuredRow } from "./harness.js";
import type { CaseContext } from "./cases.js";
import type { SettlementServerInfo } from "./serve-settlement.js";
import type { ServerStats } from "./server-child.js";
import { B4_TARGET_TRANSFERS, thousands } from "./targets.js";

const PARTICIPANTS = 100;
const CURRENCIES = ["EUR", "USD"] as const;
/** 10 basis points on every transfer: the hub's fee account (operator) gets a net in each currency too. */
const FEE_SCHEDULE_TEXT = JSON.stringify([{ currency: "*", payer_kind: "*", fixed_minor: "0", basis_points: "10" }]);
const FUNDING_MINOR = 10n ** 15n;
/** Transfers of 0.01 to 1,000.00: no payer comes near its cap (asserted), so none would have been refused. */
const MAX_AMOUNT_MINOR = 100_000;
const ROWS_PER_TRANSACTION = 20_000;
/** Calls of the setup at once (registration is serialized by clearing; the rest joins group commits). */
const SETUP_CONCURRENCY = 16;
const OUTBOX_DRAIN_MS = 30_000;
/** The engine's position threshold (POSITION_THRESHOLD_PERCENT, default 80). */
const THRESHOLD_PERCENT = 80n;

const participantId = (index: number) => `bank-${String(index + 1).padStart(3, "0")}`;
const accountKey = (participant: string, currency: string) => `${participant}\u0000${currency}`;
const mb = (bytes: number) => Number((bytes / 1_048_576).toFixed(1));
const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/**
 * How many transfers the window holds: 1,000,000, 10,000 in a smoke run; BENCH_B4_TRANSFERS
 * overrides, and a value that is no whole number of at least 10 is refused, not ignored.
 */
export function b4TransferCount(context: Pick<CaseContext, "smoke">): number {
  const text = process.env.BENCH_B4_TRANSFERS ?? "";
  if (text === "") return context.smoke ? 10_000 : B4_TARGET_TRANSFERS;
  // Digits only: Number() would also take "0x10", "1e6" and " 100 ".
  const override = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!(override >= 10)) throw new Error(`BENCH_B4_TRANSFERS must be a whole number of at least 10, got ${text}`);
  return override;
}

/** B4's title for a window of this many transfers. */
export function b4Title(transfers: number): string {
  return `close a settlement window of ${thousands(transfers)} transfers among ${PARTICIPANTS} participants`;
}

export async function runB4(context: CaseContext, inFlight: readonly number[]): Promise<MeasuredRow[]> {
  if (inFlight.some((count) => count !== 1)) context.log("  B4 closes one window with one call: in-flight counts other than 1 are ignored");
  const total = b4TransferCount(context);
  const dataDir = fs.mkdtempSync(path.join(context.tempDir, "b4-"));
  const keysDir = path.join(dataDir, "keys");
  const operatorKey = ensureKeyFiles(keysDir, "operator");
  const clearingKey = ensureKeyFiles(keysDir, "clearing");
  const banks = Array.from({ length: PARTICIPANTS }, (_, index) => ensureKeyFiles(keysDir, participantId(index)));
  const start = (nodeArgs: readonly string[] = []) => ServerProcess.start<SettlementServerInfo>("serve-settlement", "serve-settlement.ts", [], {
    env: { CLEARMESH_DATA_DIR: dataDir, FEE_SCHEDULE: FEE_SCHEDULE_TEXT, NATS_URL: undefined }, nodeArgs,
  });
  const clientOf = (server: ServerProcess<SettlementServerInfo>) => createSignedClient(ClearingService, {
    address: server.target, signer: operatorKey, expectedResponder: "clearing", defaultDeadlineMs: 120_000,
    responseKeys: (participant, keyId) => (participant === "clearing" && keyId === clearingKey.keyId ? clearingKey.publicKey : undefined),
  });
  try {
    // 1. Setup through the API.
    const setupStarted = performance.now();
    const setupServer = await start();
    const realTransfers = CURRENCIES.length;
    try {
      const client = clientOf(setupServer);
      try {
        await registerAndFund(client, banks);
        for (const [index, currency] of CURRENCIES.entries()) {
          await client.createTransfer({
            transferId: `${context.runId}-b4-api-${index}`, payerId: banks[index]!.participantId, payeeId: banks[index + 1]!.participantId,
            amount: { currency, amountMinor: 12_345n },
          }, { signer: banks[index] });
        }
      } finally {
        client.close();
      }
    } finally {
      await setupServer.stop();
    }
    const setupMs = performance.now() - setupStarted;
    context.log(`  setup: clearing started in ${setupServer.info.startupMs} ms on an empty store; ${PARTICIPANTS} banks registered and funded, ${realTransfers} transfers through the API (${Math.round(setupMs)} ms)`);

    // 2. Seeding, clearing stopped.
    const seeded = seedWindow(path.join(dataDir, "clearing.db"), {
      transfers: total - realTransfers, runId: context.runId, participants: banks.map((bank) => bank.participantId), feeSchedule: parseFeeSchedule(FEE_SCHEDULE_TEXT),
    });
    context.log(`  seeded ${seeded.seededRows} transfers into ${seeded.windowId} in ${Math.round(seeded.seedMs)} ms (${Math.round(seeded.seededRows / (seeded.seedMs / 1000))} rows/s); store ${mb(seeded.storeBytes)} MB`);

    // 3. The measured clearing process on the seeded store, and the close.
    const server = await start(context.profileDir ? ["--cpu-prof", "--cpu-prof-dir", context.profileDir] : []);
    try {
      context.log(`  clearing started on the seeded store in ${server.info.startupMs} ms (the engine's load alone: ${server.info.ledgerLoadMs} ms; reading every transfer id, in the background: ${server.info.transferIdsMs} ms)`);
      const client = clientOf(server);
      try {
        const drained = await server.settle((stats) => (stats.extra.outbox_pending ?? 0) === 0, OUTBOX_DRAIN_MS);
        // Neighbours' load just before the close: one quiet second, nothing of this run working.
        const disturbance = await quietSecond(server);
        const before = await server.stats(true);
        const closeStarted = performance.now();
        const window = await client.closeSettlementWindow({ requestId: `${context.runId}-b4-close` });
        const closeMs = performance.now() - closeStarted;
        const after = await server.stats();
        verifyClose(window, seeded, total);
        const emptyStarted = performance.now();
        const next = await client.closeSettlementWindow({ requestId: `${context.runId}-b4-close-empty` });
        const emptyCloseMs = performance.now() - emptyStarted;
        if (next.transferCount !== 0n || next.state !== SettlementWindowState.SETTLED) throw new Error(`B4: the next window ${next.windowId} was not empty and settled at once`);

        const cpuMs = (after.cpuUserUs - before.cpuUserUs + after.cpuSystemUs - before.cpuSystemUs) / 1000;
        context.log(`  closed ${window.windowId} (${total} transfers, ${window.instructions.length} instructions) in ${closeMs.toFixed(1)} ms; empty window ${emptyCloseMs.toFixed(1)} ms`);
        return [{
          in_flight: 1,
          throughput_per_s: Math.round(total / (closeMs / 1000)),
          p50_ms: round(closeMs, 2),
          p99_ms: round(closeMs, 2),
          cpu_ms_per_call: round(cpuMs, 2),
          rss_mb: mb(Math.max(after.peakRssBytes, after.rssBytes)),
          calls: 1,
          errors: 0,
          duration_s: round(closeMs / 1000, 4),
          transfers: total,
          participants: PARTICIPANTS,
          window_id: window.windowId,
          net_positions: window.netPositions.length,
          instructions: window.instructions.length,
          nets_verified: true,
          close_timed_by: "harness process: performance.now() around one operator-signed CloseSettlementWindow (the services' node:http2 client), request signing and answer verification included",
          empty_close_ms: round(emptyCloseMs, 2),
          cpu_system_ms: round((after.cpuSystemUs - before.cpuSystemUs) / 1000, 2),
          helper_cpu_ms: round(after.helperCpuMs - before.helperCpuMs, 2),
          setup_ms: Math.round(setupMs),
          startup_empty_store_ms: setupServer.info.startupMs,
          seed_ms: Math.round(seeded.seedMs),
          seed_rows_per_s: Math.round(seeded.seededRows / (seeded.seedMs / 1000)),
          seeded_rows: seeded.seededRows,
          api_transfers: realTransfers,
          store_mb: mb(seeded.storeBytes),
          startup_ms: server.info.startupMs,
          ledger_load_ms: server.info.ledgerLoadMs,
          transfer_ids_ms: server.info.transferIdsMs,
          rss_after_start_mb: mb(server.info.rssAfterStartBytes),
          rss_start_mb: mb(before.rssBytes),
          rss_end_mb: mb(after.rssBytes),
          heap_used_end_mb: mb(after.heapUsedBytes),
          heap_total_end_mb: mb(after.heapTotalBytes),
          outbox_pending_before_close: drained.extra.outbox_pending ?? null,
          machine_cpu_util: disturbance.machine,
          other_cpu_util: disturbance.other,
          fee_schedule: FEE_SCHEDULE_TEXT,
          store: "sqlite",
        }];
      } finally {
        client.close();
      }
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** RegisterParticipant for every bank, then DepositLiquidity and SetNetDebitCap in each currency, all operator-signed. */
async function registerAndFund(client: SignedClient<typeof ClearingService>, banks: readonly SigningKey[]): Promise<void> {
  await inParallel(banks, SETUP_CONCURRENCY, (bank, index) => client.registerParticipant({
    participantId: bank.participantId, name: `Bench bank ${index + 1}`, kind: ParticipantKind.BANK, currencies: [...CURRENCIES],
    keys: [{ keyId: bank.keyId, publicKey: bank.publicKey }],
  }));
  const accounts = banks.flatMap((bank) => CURRENCIES.map((currency) => ({ participant: bank.participantId, currency })));
  await inParallel(accounts, SETUP_CONCURRENCY, async ({ participant, currency }) => {
    await client.depositLiquidity({ requestId: `b4-deposit-${participant}-${currency}`, participantId: participant, amount: { currency, amountMinor: FUNDING_MINOR } });
    await client.setNetDebitCap({ requestId: `b4-cap-${participant}-${currency}`, participantId: participant, cap: { currency, amountMinor: FUNDING_MINOR } });
  });
}

async function inParallel<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  }));
}

// ---- seeding ----------------------------------------------------------------------------------

/** The columns of clearing's transfers table (services/clearing/src/migrations.ts), in insert order. */
const TRANSFER_COLUMNS = [
  "transfer_id", "kind", "payer_id", "payee_id", "currency", "amount_minor", "prepared_amount_minor", "fee_minor", "payee_currency",
  "payee_amount_minor", "fx_provider_id", "rate", "quote_id", "payer_reference", "payee_reference", "condition_hex", "state", "window_id",
  "created_at_ms", "expires_at_ms", "completed_at_ms",
] as const;
type TransferColumn = (typeof TRANSFER_COLUMNS)[number];
type SqlValue = string | bigint | null;

/**
 * The row clearing writes for a committed push transfer (CreateTransfer: prepared and committed
 * at once, same currency, no quote, no hash lock, no references): persist.ts's values for the
 * record transfers/service.ts builds.
 */
function committedTransferRow(transfer: { transferId: string; payerId: string; payeeId: string; currency: string; amount: bigint; fee: bigint; windowId: string; createdAtMs: bigint; completedAtMs: bigint }): SqlValue[] {
  return [
    transfer.transferId, "create", transfer.payerId, transfer.payeeId, transfer.currency, transfer.amount, transfer.amount, transfer.fee, transfer.currency,
    transfer.amount - transfer.fee, "", "", "", "", "", "", BigInt(TransferState.COMMITTED), transfer.windowId,
    transfer.createdAtMs, null, transfer.completedAtMs,
  ];
}

export interface SeededWindow {
  windowId: string;
  seededRows: number;
  /** What the close must answer: every account's net in the window (existing rows plus seeded ones), by account key. */
  expectedNets: Map<string, bigint>;
  expectedTransferCount: bigint;
  seedMs: number;
  storeBytes: number;
}

/** xorshift32: the same transfers on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/**
 * Writes `transfers` committed transfers among `participants` into the open window of a stopped
 * clearing's SQLite store, and updates what the engine keeps beside them (positions, the window's
 * nets and transfer count) exactly as the engine's commit would have, so the ledger loads them.
 */
export function seedWindow(dbPath: string, options: { transfers: number; runId: string; participants: readonly string[]; feeSchedule: FeeSchedule }): SeededWindow {
  const started = performance.now();
  const db = new Database(dbPath);
  try {
    // What packages/store/src/sqlite.ts sets.
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.defaultSafeIntegers(true);

    const openWindows = db.prepare("SELECT window_id, opened_at_ms, transfer_count FROM windows WHERE state = ?").all(BigInt(SettlementWindowState.OPEN)) as Array<{ window_id: string; opened_at_ms: bigint; transfer_count: bigint }>;
    if (openWindows.length !== 1) throw new Error(`B4 seeding: expected one open window, found ${openWindows.length}`);
    const { window_id: windowId, opened_at_ms: openedAtMs, transfer_count: existingCount } = openWindows[0]!;

    // The rows the engine wrote through the API must be exactly what the seeder writes for the same transfer.
    const engineRows = db.prepare("SELECT * FROM transfers WHERE window_id = ?").all(windowId) as Array<Record<TransferColumn, SqlValue>>;
    if (engineRows.length === 0 || BigInt(engineRows.length) !== existingCount) throw new Error(`B4 seeding: ${windowId} counts ${existingCount} transfers and holds ${engineRows.length} rows`);
    for (const row of engineRows) {
      const amount = row.amount_minor as bigint;
      const expected = committedTransferRow({
        transferId: row.transfer_id as string, payerId: row.payer_id as string, payeeId: row.payee_id as string, currency: row.currency as string, amount,
        fee: feeFor(options.feeSchedule, row.currency as string, ParticipantKind.BANK, amount), windowId,
        createdAtMs: row.created_at_ms as bigint, completedAtMs: row.completed_at_ms as bigint,
      });
      TRANSFER_COLUMNS.forEach((column, index) => {
        if (row[column] !== expected[index]) throw new Error(`B4 seeding: the engine wrote ${column} = ${String(row[column])} for ${String(row.transfer_id)}, the seeder would write ${String(expected[index])}`);
      });
    }

    // Deltas by participant index × currency index, and the fee account's by currency.
    const count = options.transfers;
    const participants = options.participants;
    const deltas = new Array<bigint>(participants.length * CURRENCIES.length).fill(0n);
    const touched = new Array<boolean>(deltas.length).fill(false);
    /** What each account paid out in the seeding: bounds its exposure at every moment of it. */
    const paid = new Array<bigint>(deltas.length).fill(0n);
    const feeDeltas = CURRENCIES.map(() => 0n);
    const feeTouched = CURRENCIES.map(() => false);
    const next = random(0x0b4b4b4);
    const nowMs = BigInt(Date.now());
    const spanMs = nowMs - openedAtMs;
    const insert = db.prepare(`INSERT INTO transfers (${TRANSFER_COLUMNS.join(", ")}) VALUES (${TRANSFER_COLUMNS.map(() => "?").join(", ")})`);
    const insertBatch = db.transaction((from: number, to: number) => {
      for (let index = from; index < to; index++) {
        const payer = next() % participants.length;
        const payee = (payer + 1 + (next() % (participants.length - 1))) % participants.length;
        const currencyIndex = next() & 1;
        const currency = CURRENCIES[currencyIndex]!;
        const amount = BigInt(1 + (next() % MAX_AMOUNT_MINOR));
        const fee = feeFor(options.feeSchedule, currency, ParticipantKind.BANK, amount);
        // Spread over the window's life so far, in commit order.
        const atMs = openedAtMs + (spanMs * BigInt(index)) / BigInt(count);
        insert.run(committedTransferRow({
          transferId: `${options.runId}-b4-${String(index).padStart(7, "0")}`, payerId: participants[payer]!, payeeId: participants[payee]!,
          currency, amount, fee, windowId, createdAtMs: atMs, completedAtMs: atMs,
        }));
        // The ledger's move(): payer +amount, payee -(amount - fee), fee account -fee; a zero leg is skipped.
        deltas[payer * CURRENCIES.length + currencyIndex]! += amount;
        paid[payer * CURRENCIES.length + currencyIndex]! += amount;
        touched[payer * CURRENCIES.length + currencyIndex] = true;
        deltas[payee * CURRENCIES.length + currencyIndex]! -= amount - fee;
        touched[payee * CURRENCIES.length + currencyIndex] = true;
        if (fee !== 0n) {
          feeDeltas[currencyIndex]! -= fee;
          feeTouched[currencyIndex] = true;
        }
      }
    });
    // The inserts' commits skip their fsyncs (a quarter of the seeding's time in a B4 run alone): the last
    // transaction below syncs the write-ahead log with every frame before it, and the checkpoint
    // the store file, before clearing opens it.
    db.pragma("synchronous = OFF");
    for (let from = 0; from < count; from += ROWS_PER_TRANSACTION) insertBatch(from, Math.min(count, from + ROWS_PER_TRANSACTION));
    db.pragma("synchronous = FULL");

    const seededNets = new Map<string, bigint>();
    const paidOut = new Map<string, bigint>();
    participants.forEach((participant, index) => CURRENCIES.forEach((currency, currencyIndex) => {
      if (!touched[index * CURRENCIES.length + currencyIndex]) return;
      seededNets.set(accountKey(participant, currency), deltas[index * CURRENCIES.length + currencyIndex]!);
      paidOut.set(accountKey(participant, currency), paid[index * CURRENCIES.length + currencyIndex]!);
    }));
    CURRENCIES.forEach((currency, currencyIndex) => {
      if (feeTouched[currencyIndex]) seededNets.set(accountKey("operator", currency), feeDeltas[currencyIndex]!);
    });

    // Beside the rows, in one transaction: positions, the window's running nets, its transfer count.
    const expectedNets = new Map<string, bigint>();
    for (const row of db.prepare("SELECT participant_id, currency, net_minor FROM window_nets WHERE window_id = ?").all(windowId) as Array<{ participant_id: string; currency: string; net_minor: bigint }>) {
      expectedNets.set(accountKey(row.participant_id, row.currency), row.net_minor);
    }
    const account = db.prepare("SELECT * FROM accounts WHERE participant_id = ? AND currency = ?");
    const upsertAccount = db.prepare(`INSERT INTO accounts (participant_id, currency, settlement_balance_minor, net_debit_cap_minor, position_minor, reserved_minor, above_threshold)
      VALUES (?, ?, 0, 0, ?, 0, 0) ON CONFLICT (participant_id, currency) DO UPDATE SET position_minor = excluded.position_minor`);
    const upsertNet = db.prepare(`INSERT INTO window_nets (window_id, participant_id, currency, net_minor) VALUES (?, ?, ?, ?)
      ON CONFLICT (window_id, participant_id, currency) DO UPDATE SET net_minor = excluded.net_minor`);
    db.transaction(() => {
      for (const [key, delta] of seededNets) {
        const [participant, currency] = key.split("\u0000") as [string, string];
        const current = account.get(participant, currency) as { position_minor: bigint; reserved_minor: bigint; net_debit_cap_minor: bigint; above_threshold: bigint } | undefined;
        const position = (current?.position_minor ?? 0n) + delta;
        // The engine would have refused a payment beyond the cap, and sent threshold_crossed at
        // 80 % of it: no account may come near, at any moment of the seeding (bounded by all it paid).
        const cap = current?.net_debit_cap_minor ?? 0n;
        const highest = (current?.position_minor ?? 0n) + (current?.reserved_minor ?? 0n) + (paidOut.get(key) ?? 0n);
        if (highest > 0n && highest * 100n >= cap * THRESHOLD_PERCENT) throw new Error(`B4 seeding: ${participant} ${currency} could reach ${highest} against a cap of ${cap}`);
        if ((current?.above_threshold ?? 0n) !== 0n) throw new Error(`B4 seeding: ${participant} ${currency} is above its threshold before seeding`);
        upsertAccount.run(participant, currency, position);
        const net = (expectedNets.get(key) ?? 0n) + delta;
        expectedNets.set(key, net);
        upsertNet.run(windowId, participant, currency, net);
      }
      db.prepare("UPDATE windows SET transfer_count = transfer_count + ? WHERE window_id = ?").run(BigInt(count), windowId);
    })();
    db.pragma("wal_checkpoint(TRUNCATE)");
    return {
      windowId, seededRows: count, expectedNets, expectedTransferCount: existingCount + BigInt(count),
      seedMs: performance.now() - started, storeBytes: fs.statSync(dbPath).size,
    };
  } finally {
    db.close();
  }
}

// ---- checking and measuring the close -----------------------------------------------------------

/** The close's answer against the seeding: same window, count, nets and one instruction per non-zero net. */
function verifyClose(window: SettlementWindow, seeded: SeededWindow, total: number): void {
  const fail = (what: string): never => {
    throw new Error(`B4: the close of ${seeded.windowId} answered ${what}`);
  };
  if (window.windowId !== seeded.windowId) fail(`window ${window.windowId}`);
  if (window.state !== SettlementWindowState.SETTLING) fail(`state ${SettlementWindowState[window.state]}, not SETTLING`);
  if (window.transferCount !== seeded.expectedTransferCount || window.transferCount !== BigInt(total)) fail(`transfer_count ${window.transferCount}, not ${seeded.expectedTransferCount}`);
  if (window.netPositions.length !== seeded.expectedNets.size) fail(`${window.netPositions.length} net positions, not ${seeded.expectedNets.size}`);
  const sums = new Map<string, bigint>();
  for (const net of window.netPositions) {
    const expected = seeded.expectedNets.get(accountKey(net.participantId, net.currency));
    if (expected !== net.netMinor) fail(`net ${net.netMinor} for ${net.participantId} ${net.currency}, not ${expected}`);
    sums.set(net.currency, (sums.get(net.currency) ?? 0n) + net.netMinor);
  }
  for (const [currency, sum] of sums) if (sum !== 0n) fail(`nets summing to ${sum} in ${currency}`);
  const nonZero = [...seeded.expectedNets].filter(([, net]) => net !== 0n);
  if (window.instructions.length !== nonZero.length) fail(`${window.instructions.length} instructions, not ${nonZero.length}`);
  const instructions = new Map(window.instructions.map((instruction) => [instruction.instructionId, instruction]));
  for (const [key, net] of nonZero) {
    const [participant, currency] = key.split("\u0000") as [string, string];
    const instruction = instructions.get(`${seeded.windowId}.${participant}.${currency}`);
    if (!instruction || instruction.netMinor !== net || instruction.participantId !== participant || instruction.currency !== currency || instruction.windowId !== seeded.windowId) {
      fail(`instruction ${seeded.windowId}.${participant}.${currency} as ${JSON.stringify(instruction, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value))}, not a net of ${net}`);
    }
  }
}

/**
 * One second with nothing of this run working (clearing idle, the harness waiting): the share of
 * the machine's CPU used by other processes, as other_cpu_util of the other cases.
 */
async function quietSecond(server: ServerProcess<unknown>): Promise<{ machine: number; other: number }> {
  const cpusBefore = os.cpus();
  const ownBefore = process.cpuUsage();
  const serverBefore: ServerStats = await server.stats();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const serverAfter = await server.stats();
  const own = process.cpuUsage(ownBefore);
  const cpusAfter = os.cpus();
  let busy = 0;
  let all = 0;
  cpusAfter.forEach((cpu, index) => {
    const was = cpusBefore[index]!.times;
    const now = cpu.times;
    const total = now.user + now.nice + now.sys + now.irq + now.idle - (was.user + was.nice + was.sys + was.irq + was.idle);
    busy += total - (now.idle - was.idle);
    all += total;
  });
  const ownMs = (own.user + own.system) / 1000
    + (serverAfter.cpuUserUs - serverBefore.cpuUserUs + serverAfter.cpuSystemUs - serverBefore.cpuSystemUs) / 1000
    + (serverAfter.helperCpuMs - serverBefore.helperCpuMs);
  const machine = all > 0 ? busy / all : 0;
  return { machine: round(machine), other: round(Math.max(0, machine - (all > 0 ? ownMs / all : 0))) };
}

// B3 (issue 7): an end-to-end wallet payment of a merchant intent. Three measured services, each
// in its own process (bench/serve-service.ts): clearing (SQLite, with the mesh's one
// nats-server), the e-commerce connector (with a local webhook sink) and the wallet. The load
// generator is the users' wallet app: one unit is one PayPaymentIntent at the wallet with the
// user's bearer session, which the wallet answers only after every hop of the payment
//   wallet → connector GetPaymentIntent → wallet hold → clearing PrepareTransfer →
//   connector ConfirmPaymentIntent (→ clearing GetTransfer, CommitTransfer as the acquirer) →
//   wallet GetTransfer at clearing → wallet debit
// and the answer must be COMPLETED. Webhooks (to the sink) and notification events (to JetStream;
// no notifier runs) go out after the answer, off the measured path, but their CPU counts.
// Everything else is not measured: registering participants, funding, merchants, users and their
// sessions happen once, before the servers' warm-up; the merchant intents each run pays are
// created by the merchants through the connector before that run (a unit never creates one).
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { CaptureMethod, ClearingService, CommerceService, ParticipantKind, WalletService } from "@clearmesh/contracts";
import { createSignedClient, ensureKeyFiles, type SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";
import { idPrefix, logRun, type CaseContext, type CaseSession } from "./cases.js";
import { ServerProcess, runLoad, type StatsSource } from "./harness.js";
import type { MeshServiceInfo, MeshServiceName } from "./serve-service.js";
import type { ServerStats } from "./server-child.js";
import { intentId } from "./workloads.js";

/** Registered at clearing: the two service identities that sync the directory, and the three parties of a payment. */
const PARTICIPANTS = [
  { participantId: "wallet", name: "Wallet service", kind: ParticipantKind.SERVICE, currencies: [] as string[] },
  { participantId: "e-commerce-connector", name: "E-commerce connector service", kind: ParticipantKind.SERVICE, currencies: [] as string[] },
  { participantId: "bank-a", name: "Bench bank", kind: ParticipantKind.BANK, currencies: ["EUR"] },
  { participantId: "wallet-a", name: "Bench wallet provider", kind: ParticipantKind.WALLET_PROVIDER, currencies: ["EUR"] },
  { participantId: "acquirer-a", name: "Bench acquirer", kind: ParticipantKind.MERCHANT_ACQUIRER, currencies: ["EUR"] },
];
const CURRENCY = "EUR";
/** Wallet users paying; unit n is paid by user n mod USERS, so units in flight are mostly different users. */
const USERS = 32;
/** Merchants the intents rotate among (each has its own webhook queue at the connector). */
const MERCHANTS = 4;
/** Each user's balance, funded by bank-a through clearing before the run: never the limit. */
const USER_FUNDS_MINOR = 10n ** 12n;
/** bank-a's and wallet-a's liquidity and net debit cap at clearing. */
const PARTICIPANT_FUNDS_MINOR = 10n ** 15n;
/**
 * Unpaid intents a run needs before it starts: this rate over warm-up + window, plus two per slot
 * in flight. A run that pays faster runs out, and its units fail with "no intent left" (then
 * raise it).
 */
const MAX_PAYMENTS_PER_S = 800;
/** Concurrent CreatePaymentIntent calls while the merchants create the run's intents. */
const CREATE_CONCURRENCY = 16;

/**
 * One pool of numbered intents (`<prefix>-<n>`) for the runs of one B3 session, paid in order: a
 * run first pays those the runs before it left unpaid, and the merchants create only what it
 * lacks (on a slow host creating a whole run's worth took as long as the run's window, in every
 * round). An intent a run may have used is never offered again.
 */
export class IntentPool {
  /** Intents 0 … created - 1 exist at the connector. */
  created = 0;
  /** Intents 0 … paid - 1 are used: paid, or begun by a run (failed ones too). */
  paid = 0;

  constructor(readonly prefix: string) {}

  unpaid(): number {
    return this.created - this.paid;
  }

  /** How many to create before a run that may pay `needed`. */
  shortfall(needed: number): number {
    return Math.max(0, needed - this.unpaid());
  }

  /** A run starts: it pays from the intent returned on. Until it ends, every intent it could pay counts as used. */
  begin(): number {
    const first = this.paid;
    this.paid = this.created;
    return first;
  }

  /** The run that began at `first` started this many units (the generator's units_started): those intents are used, the rest offered again. */
  end(first: number, unitsStarted: number): void {
    this.paid = Math.min(this.created, first + unitsStarted);
  }
}
const DRAIN_MS = 60_000;
const BANK_ADAPTER_NOWHERE = "127.0.0.1:9"; // no bank-adapter runs: no card, top-up or withdrawal in B3

type Service = ServerProcess<MeshServiceInfo>;
const SHORT: Record<MeshServiceName, string> = { clearing: "clearing", "e-commerce-connector": "connector", wallet: "wallet" };

/** The three services sampled as one for runLoad (CPU summed, memory the largest), every sample kept per service. */
class MeshStats implements StatsSource {
  samples: Array<{ resetPeak: boolean; each: ServerStats[] }> = [];
  constructor(readonly services: readonly Service[]) {}

  async stats(resetPeak = false): Promise<ServerStats> {
    const each = await Promise.all(this.services.map((service) => service.stats(resetPeak)));
    this.samples.push({ resetPeak, each });
    const sum = (field: keyof ServerStats) => each.reduce((total, stats) => total + (stats[field] as number), 0);
    const max = (field: keyof ServerStats) => Math.max(...each.map((stats) => stats[field] as number));
    const extra: Record<string, number> = {};
    each.forEach((stats, index) => {
      for (const [name, value] of Object.entries(stats.extra)) extra[`${SHORT[this.services[index]!.info.service]}_${name}`] = value;
    });
    return {
      cpuUserUs: sum("cpuUserUs"), cpuSystemUs: sum("cpuSystemUs"), eluActiveMs: sum("eluActiveMs"), eluIdleMs: sum("eluIdleMs"),
      rssBytes: max("rssBytes"), heapUsedBytes: max("heapUsedBytes"), heapTotalBytes: max("heapTotalBytes"), externalBytes: max("externalBytes"),
      peakRssBytes: max("peakRssBytes"), helperCpuMs: sum("helperCpuMs"), mainThreadCpuMs: sum("mainThreadCpuMs"), extra,
    };
  }

  /** Waits until every outbox is published, every webhook delivered and no payment is pending (or the time is up). */
  async drained(timeoutMs: number): Promise<Record<string, number>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const each = await Promise.all(this.services.map((service) => service.stats()));
      const extra = Object.assign({}, ...each.map((stats, index) => Object.fromEntries(Object.entries(stats.extra).map(([name, value]) => [`${SHORT[this.services[index]!.info.service]}_${name}`, value])))) as Record<string, number>;
      const busy = each.some((stats) => (stats.extra.outbox_pending ?? 0) > 0 || (stats.extra.webhooks_pending ?? 0) > 0 || (stats.extra.movements_pending ?? 0) > 0);
      if (!busy || Date.now() > deadline) return extra;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

export async function openB3(context: CaseContext): Promise<CaseSession> {
  // Checked before anything is made, so that a bad value leaves nothing behind.
  const callsPerTurn = process.env.BENCH_B3_CALLS_PER_TURN || process.env.CALLS_PER_TURN || "8";
  if (!/^\d+$/.test(callsPerTurn)) throw new Error(`BENCH_B3_CALLS_PER_TURN (or CALLS_PER_TURN) must be a whole number of calls (0: no limit), got ${JSON.stringify(callsPerTurn)}`);
  const dataDir = fs.mkdtempSync(path.join(context.tempDir, "b3-"));
  const keysDir = path.join(dataDir, "keys");
  const keys = new Map<string, SigningKey>();
  for (const id of ["operator", "clearing", ...PARTICIPANTS.map((entry) => entry.participantId)]) keys.set(id, ensureKeyFiles(keysDir, id));
  for (const file of ["data-keys", "notify-data-keys"]) fs.writeFileSync(path.join(keysDir, file), `k1:${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  const merchants = Array.from({ length: MERCHANTS }, (_, index) => `shop-bench-${index + 1}`);
  for (const id of merchants) keys.set(id, ensureKeyFiles(path.join(dataDir, "merchant-keys"), id));

  const services: Service[] = [];
  const closers: Array<{ close(): void }> = [];
  const close = async () => {
    for (const client of closers.splice(0)) client.close();
    for (const service of services.splice(0).reverse()) await service.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  // The three services share the machine's two cores with nats-server and the generator: each
  // verifies signatures in place, which costs less CPU in all than handing them to its thread
  // pool there (docs/performance.md, "What was changed on the hot path"). Each takes at most 8
  // calls and answers a turn (CALLS_PER_TURN), so that a burst of payments moves on in parts
  // rather than as one convoy; BENCH_B3_CALLS_PER_TURN (or CALLS_PER_TURN, for every case) sets
  // another limit (0: none). Both are B3's defaults: the environment's SIGNATURE_VERIFICATION and
  // CALLS_PER_TURN, a variant's, win over them; every other setting of the environment reaches
  // the services too (bench/serve-service.ts), but for the addresses, keys and folders set here.
  const shared = { CLEARMESH_DATA_DIR: dataDir, SIGNATURE_VERIFICATION: process.env.SIGNATURE_VERIFICATION || "event-loop", CALLS_PER_TURN: callsPerTurn };
  const start = async (service: MeshServiceName, environment: Record<string, string>) => {
    const started = await ServerProcess.start<MeshServiceInfo>(`b3 ${service}`, "serve-service.ts", [service, JSON.stringify({ ...shared, ...environment })], {
      nodeArgs: context.profileDir ? ["--cpu-prof", "--cpu-prof-dir", path.join(context.profileDir, `b3-${service}`)] : [],
    });
    services.push(started);
    return started;
  };
  try {
    const clearing = await start("clearing", {});
    const natsUrl = clearing.info.natsUrl!;
    const clearingAddress = clearing.target;
    const clearingKey = keys.get("clearing")!;
    const clearingAs = (signer: string) => {
      const client = createSignedClient(ClearingService, {
        address: clearingAddress, signer: keys.get(signer)!, expectedResponder: "clearing",
        responseKeys: (participantId, keyId) => (participantId === "clearing" && keyId === clearingKey.keyId ? clearingKey.publicKey : undefined),
      });
      closers.push(client);
      return client;
    };
    const operator = clearingAs("operator");
    for (const participant of PARTICIPANTS) {
      const key = keys.get(participant.participantId)!;
      await operator.registerParticipant({ ...participant, keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
    }
    for (const participantId of ["bank-a", "wallet-a"]) {
      const amount = { currency: CURRENCY, amountMinor: PARTICIPANT_FUNDS_MINOR };
      await operator.depositLiquidity({ requestId: `b3-deposit-${participantId}`, participantId, amount });
      await operator.setNetDebitCap({ requestId: `b3-cap-${participantId}`, participantId, cap: amount });
    }

    const connector = await start("e-commerce-connector", {
      NATS_URL: natsUrl, CLEARING_ADDRESS: clearingAddress, HOSTED_PARTICIPANTS: "acquirer-a", BANK_ADAPTER_ADDRESS: BANK_ADAPTER_NOWHERE,
    });
    const wallet = await start("wallet", {
      NATS_URL: natsUrl, CLEARING_ADDRESS: clearingAddress, COMMERCE_ADDRESS: connector.target, HOSTED_PARTICIPANTS: "wallet-a", BANK_ADAPTER_ADDRESS: BANK_ADAPTER_NOWHERE,
      // Registration and login are setup here, not measured: a cheap password hash and no registration limit keep setup short.
      // The users log in once and pay in every round: their sessions last a day, so no long run outlives them.
      PASSWORD_SCRYPT_COST: "1024", REGISTRATIONS_PER_CALLER_PER_MINUTE: "10000", SESSION_TTL_MS: String(86_400_000),
    });
    context.log(`  services: clearing pid ${clearing.info.pid}, connector pid ${connector.info.pid}, wallet pid ${wallet.info.pid}`);

    const connectorKey = keys.get("e-commerce-connector")!;
    const commerceAs = (signer: SigningKey) => {
      const client = createSignedClient(CommerceService, {
        address: connector.target, signer, expectedResponder: "e-commerce-connector",
        responseKeys: (participantId, keyId) => (participantId === "e-commerce-connector" && keyId === connectorKey.keyId ? connectorKey.publicKey : undefined),
      });
      closers.push(client);
      return client;
    };
    const operatorAtConnector = commerceAs(keys.get("operator")!);
    for (const merchantId of merchants) {
      const key = keys.get(merchantId)!;
      await operatorAtConnector.registerMerchant({
        merchantId, name: `Bench shop ${merchantId}`, webhookUrl: connector.info.webhookSinkUrl!, keyId: key.keyId, publicKey: key.publicKey, acquirerId: "acquirer-a",
      });
    }
    const merchantClients = merchants.map((merchantId) => commerceAs(keys.get(merchantId)!));

    const sessions = await usersWithFunds(context, createSignedClient(WalletService, { address: wallet.target }), clearingAs("bank-a"), closers);
    const mesh = new MeshStats(services);
    const pool = new IntentPool(`${idPrefix(context, "pay", "pool", 0)}-pi`);
    const session: CaseSession = {
      async measure(count, measurement) {
        for (const service of services) service.unpark();
        const tag = idPrefix(context, "pay", measurement.label, count);
        const needed = Math.ceil(MAX_PAYMENTS_PER_S * (measurement.warmupS + measurement.durationS)) + 2 * count;
        const left = pool.unpaid();
        const created = pool.shortfall(needed);
        const creating = performance.now();
        await createIntents(merchantClients, merchants, pool.prefix, pool.created, created);
        pool.created += created;
        context.log(`  ${created} merchant intents created in ${((performance.now() - creating) / 1000).toFixed(1)} s (${left} left unpaid by earlier runs)`);
        await mesh.drained(DRAIN_MS);
        mesh.samples = [];
        const firstIntent = pool.begin();
        const { figures, loadgen } = await runLoad(mesh, {
          target: wallet.target, workload: "wallet-pay-intent", inFlight: count, warmupS: measurement.warmupS, durationS: measurement.durationS,
          keysDir, signers: [], verifyEvery: 0, idPrefix: `${tag}-rq`, payments: { sessions, intentPrefix: pool.prefix, firstIntent, endIntent: pool.created },
        });
        pool.end(firstIntent, loadgen.units_started);
        const afterDrain = await mesh.drained(DRAIN_MS);
        const perService = serviceFigures(mesh, figures.calls ?? 0, figures.duration_s ?? 0);
        logRun(context, measurement, `  ${count} in flight: ${figures.throughput_per_s} payments/s; ${Object.entries(perService).map(([name, values]) => `${name} ${values.cpu_ms_per_call} ms/payment, ${values.rss_peak_mb} MB`).join("; ")}`);
        return {
          ...figures,
          unit: "PayPaymentIntent answered COMPLETED (wallet → connector → clearing prepare → connector confirm → clearing commit → wallet debit)",
          store: "sqlite",
          intents_created: created,
          intents_available: pool.created - firstIntent,
          users: USERS,
          merchants: MERCHANTS,
          ...Object.fromEntries(Object.entries(perService).flatMap(([name, values]) => [[`${name}_cpu_ms_per_call`, values.cpu_ms_per_call], [`${name}_rss_mb`, values.rss_peak_mb]])),
          services: perService,
          after_drain: afterDrain,
        };
      },
      park: () => {
        for (const service of services) service.park();
      },
      close,
    };
    return session;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Registers the users, logs them in, and funds each through clearing: bank-a pays wallet-a with the user's e-mail as payee_reference. */
async function usersWithFunds(
  context: CaseContext, wallet: SignedClient<typeof WalletService>, bank: SignedClient<typeof ClearingService>, closers: Array<{ close(): void }>,
): Promise<string[]> {
  closers.push(wallet);
  const password = "bench-payer-Passphrase-7c1e";
  const sessions = await Promise.all(Array.from({ length: USERS }, async (_, index) => {
    const email = `payer-${index + 1}@bench.example`;
    await wallet.registerUser({ email, phone: `+1555${String(index + 1).padStart(7, "0")}`, displayName: `Bench payer ${index + 1}`, password, providerId: "wallet-a" }, { metadata: { "x-client-id": "bench" } });
    const { sessionToken } = await wallet.login({ email, password, providerId: "wallet-a" });
    await bank.createTransfer({
      transferId: `${context.runId}-b3-fund-${index + 1}`, payerId: "bank-a", payeeId: "wallet-a", amount: { currency: CURRENCY, amountMinor: USER_FUNDS_MINOR }, payeeReference: email,
    });
    return sessionToken;
  }));
  // The wallet credits each user from clearing's transfer.committed event.
  const deadline = Date.now() + DRAIN_MS;
  for (const token of sessions) {
    for (;;) {
      const { balances } = await wallet.getBalances({}, { metadata: { authorization: `Bearer ${token}` } });
      if ((balances.find((money) => money.currency === CURRENCY)?.amountMinor ?? 0n) >= USER_FUNDS_MINOR) break;
      if (Date.now() > deadline) throw new Error("the wallet did not credit the bench users' funding");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return sessions;
}

/** Intents first … first + count - 1 of the pool, created by the merchants (signed, each its own) through the connector, CREATE_CONCURRENCY at a time. */
async function createIntents(clients: ReadonlyArray<SignedClient<typeof CommerceService>>, merchants: readonly string[], prefix: string, first: number, count: number): Promise<void> {
  let next = first;
  const end = first + count;
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, count) }, async () => {
    for (let n = next++; n < end; n = next++) {
      await clients[n % clients.length]!.createPaymentIntent({
        paymentIntentId: intentId(prefix, n), merchantId: merchants[n % merchants.length]!, amount: { currency: CURRENCY, amountMinor: 1_000n + BigInt(n % 9_000) },
        merchantReference: `order-${n}`, description: "bench order", captureMethod: CaptureMethod.AUTOMATIC,
      });
    }
  }));
}

interface ServiceFigures {
  pid: number;
  cpu_ms_per_call: number | null;
  cpu_system_ms_per_call: number | null;
  /** The event loop thread's own CPU per payment (the rest went to libuv's pool, V8's helpers, the SQLite writer). */
  main_thread_cpu_ms_per_call: number | null;
  cpu_util: number | null;
  event_loop_util: number | null;
  rss_peak_mb: number;
  rss_end_mb: number;
  heap_used_end_mb: number;
  helper_cpu_ms_per_call: number | null;
}

/** Each service's CPU per payment, loop use and peak RSS over the window, from the samples runLoad took. */
function serviceFigures(mesh: MeshStats, calls: number, durationS: number): Record<string, ServiceFigures> {
  const measure = mesh.samples.findIndex((sample) => sample.resetPeak);
  const before = mesh.samples[measure]?.each;
  const after = mesh.samples[measure + 1]?.each;
  if (!before || !after) throw new Error("the mesh was not sampled at the window's start and end");
  const round = (value: number, digits = 4) => Number(value.toFixed(digits));
  const mb = (bytes: number) => round(bytes / 1_048_576, 1);
  return Object.fromEntries(mesh.services.map((service, index) => {
    const start = before[index]!;
    const end = after[index]!;
    const cpuMs = (end.cpuUserUs - start.cpuUserUs + end.cpuSystemUs - start.cpuSystemUs) / 1000;
    const systemMs = (end.cpuSystemUs - start.cpuSystemUs) / 1000;
    const active = end.eluActiveMs - start.eluActiveMs;
    const idle = end.eluIdleMs - start.eluIdleMs;
    const helperMs = end.helperCpuMs - start.helperCpuMs;
    return [SHORT[service.info.service], {
      pid: service.info.pid,
      cpu_ms_per_call: calls > 0 ? round(cpuMs / calls) : null,
      cpu_system_ms_per_call: calls > 0 ? round(systemMs / calls) : null,
      main_thread_cpu_ms_per_call: calls > 0 && end.mainThreadCpuMs > 0 ? round((end.mainThreadCpuMs - start.mainThreadCpuMs) / calls) : null,
      cpu_util: durationS > 0 ? round(cpuMs / (durationS * 1000), 3) : null,
      event_loop_util: active + idle > 0 ? round(active / (active + idle), 3) : null,
      rss_peak_mb: mb(end.peakRssBytes),
      rss_end_mb: mb(end.rssBytes),
      heap_used_end_mb: mb(end.heapUsedBytes),
      helper_cpu_ms_per_call: calls > 0 && helperMs > 0 ? round(helperMs / calls) : null,
    }];
  }));
}

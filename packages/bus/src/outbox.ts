import { multiRowInsert, type Migration, type Queryable, type Statement, type Store, type Transaction } from "@clearmesh/store";
import type { JetStreamClient, NatsConnection } from "nats";
import { JetStreamPublisher } from "./publisher.js";
import type { BackoffOptions } from "./backoff.js";
import { Sleeper, backoffDelayMs } from "./backoff.js";
import { publishEnvelope } from "./envelope.js";
import type { BusLogger } from "./logger.js";
import { errorText, silentLogger } from "./logger.js";

/** Rows one relay cycle reads and publishes (published async, then all acks awaited). */
export const DEFAULT_OUTBOX_BATCH_SIZE = 256;
/** Upper bound on batchSize: one DELETE binds one parameter per row. */
export const MAX_OUTBOX_BATCH_SIZE = 1_000;
/** How often the relay looks for rows when nobody calls notify(). */
export const DEFAULT_OUTBOX_POLL_INTERVAL_MS = 1_000;
/** Retry delays after a failed cycle: the relay retries forever, never drops an event. */
export const DEFAULT_OUTBOX_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5_000 };
/**
 * On SQLite, acknowledged rows are deleted in one statement at most this often while events flow
 * (and whenever the relay finds nothing new), instead of one commit per cycle.
 */
export const OUTBOX_DELETE_INTERVAL_MS = 250;
/** While events flow, the pending count (a COUNT over the outbox) is refreshed at most this often. */
export const OUTBOX_LAG_REFRESH_MS = 500;
/** How long one publish waits for JetStream's ack. */
export const DEFAULT_OUTBOX_PUBLISH_TIMEOUT_MS = 5_000;
// A transaction-scoped PostgreSQL advisory lock key (next to the store's migration lock):
// whoever holds it is the one relay publishing this store's outbox.
const PG_OUTBOX_RELAY_LOCK = "7310033410101";

/** The outbox table; add it to the service's own migrations. */
export const outboxMigrations: readonly Migration[] = [
  {
    id: "bus-002-outbox",
    sql: {
      sqlite:
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL, data BLOB NOT NULL, created_at_ms INTEGER NOT NULL)",
      postgres:
        "CREATE TABLE outbox (seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL, data BYTEA NOT NULL, created_at_ms BIGINT NOT NULL)",
    },
  },
];

/**
 * Writes an event into the outbox inside the caller's transaction, so the event exists if
 * and only if the state change commits. Call the relay's notify() after the commit.
 */
export async function enqueueEvent(tx: Transaction, envelopeBytes: Uint8Array, id: string, subject: string): Promise<void> {
  const data = Buffer.from(envelopeBytes.buffer, envelopeBytes.byteOffset, envelopeBytes.byteLength);
  await tx.execute("INSERT INTO outbox (event_id, subject, data, created_at_ms) VALUES ($1, $2, $3, $4)", [
    id,
    subject,
    data,
    BigInt(Date.now()),
  ]);
}

/** An event ready for the outbox: its envelope bytes, id and subject. */
export interface OutboxEvent {
  bytes: Uint8Array;
  id: string;
  subject: string;
}

const OUTBOX_INSERT = multiRowInsert("outbox", ["event_id", "subject", "data", "created_at_ms"]);

/** Rows per INSERT in enqueueEvents (four parameters each). */
const ENQUEUE_ROWS_PER_STATEMENT = 500;

/**
 * enqueueEvent for many events in few statements (multi-row INSERTs), in order: they are
 * published in the order given.
 */
export async function enqueueEvents(tx: Transaction, events: readonly OutboxEvent[]): Promise<void> {
  for (const statement of outboxInserts(events)) await tx.execute(statement.sql, statement.params);
}

/** The statements enqueueEvents runs, for a caller that writes its batch with `Store.writeBatch`. */
export function outboxInserts(events: readonly OutboxEvent[]): Statement[] {
  const createdAtMs = BigInt(Date.now());
  const statements: Statement[] = [];
  for (let start = 0; start < events.length; start += ENQUEUE_ROWS_PER_STATEMENT) {
    const group = events.slice(start, start + ENQUEUE_ROWS_PER_STATEMENT);
    statements.push({
      sql: OUTBOX_INSERT.sql(group.length),
      params: group.flatMap((event) => [event.id, event.subject, Buffer.from(event.bytes.buffer, event.bytes.byteOffset, event.bytes.byteLength), createdAtMs]),
    });
  }
  return statements;
}

export interface OutboxLag {
  /** Rows not yet published (as of the relay's last cycle). */
  pending: number;
  /** Age of the oldest of them; 0 when none. */
  oldestAgeMs: number;
}

export interface OutboxRelayOptions {
  store: Store;
  js: JetStreamClient;
  /**
   * The connection behind `js`. Given, the relay publishes through one reply subscription
   * (JetStreamPublisher) instead of a js.publish request per event: the same acks, less work.
   */
  nc?: NatsConnection;
  batchSize?: number;
  pollIntervalMs?: number;
  backoff?: BackoffOptions;
  publishTimeoutMs?: number;
  /** Called after rows were acknowledged by JetStream and deleted. */
  onPublished?: (count: number) => void;
  logger?: BusLogger;
}

export interface OutboxRelay {
  /** Wakes the relay now (call after committing a transaction that enqueued events). */
  notify(): void;
  lag(): OutboxLag;
  /** Finishes the batch in flight, then stops. */
  stop(): Promise<void>;
}

interface OutboxRow {
  seq: bigint;
  event_id: string;
  subject: string;
  data: Uint8Array;
}

type CycleResult =
  | { kind: "idle" }
  | { kind: "standby" }
  | { kind: "published"; full: boolean; lastSeq: bigint }
  | { kind: "failed"; error: unknown; published: number; lastSeq?: bigint };


/**
 * Publishes outbox rows in seq order, deleting each once JetStream acknowledged it.
 * One relay publishes a store's outbox at a time: on PostgreSQL each cycle runs in a
 * transaction holding an advisory lock (other relays wait as standbys); a SQLite file belongs
 * to one process, which must start one relay.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const batchSize = options.batchSize ?? DEFAULT_OUTBOX_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_OUTBOX_BATCH_SIZE) {
    throw new RangeError(`outbox batchSize must be an integer from 1 to ${MAX_OUTBOX_BATCH_SIZE}`);
  }
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_OUTBOX_POLL_INTERVAL_MS;
  const backoff = options.backoff ?? DEFAULT_OUTBOX_BACKOFF;
  const logger = options.logger ?? silentLogger;
  const { cycle: publisher, close: closePublisher } = createBatchPublisher(options, logger);
  const pollSleeper = new Sleeper();
  const backoffSleeper = new Sleeper();
  let stopped = false;
  let lag: { pending: number; oldestCreatedAtMs: number | undefined } = { pending: 0, oldestCreatedAtMs: undefined };

  // SQLite: rows up to `publishedSeq` are acknowledged; up to `deletedSeq` also deleted. A seq
  // cursor is sound there because one writer at a time assigns seq, so commit order is seq
  // order (not so with PostgreSQL's concurrent transactions). Both live in memory: after a restart the undeleted rows are published again with the same
  // Nats-Msg-Id, which JetStream drops as duplicates (and consumers skip by event id).
  let publishedSeq = 0n;
  let deletedSeq = 0n;
  let deletedAtMs = 0;

  async function cycle(limit: number): Promise<CycleResult> {
    if (options.store.dialect !== "postgres") {
      const result = await publisher(options.store, limit, publishedSeq, false);
      if ((result.kind === "published" || result.kind === "failed") && result.lastSeq !== undefined) publishedSeq = result.lastSeq;
      const due = result.kind === "idle" || Date.now() - deletedAtMs >= OUTBOX_DELETE_INTERVAL_MS;
      if (due) await deletePublished();
      return result;
    }
    // The cycle only deletes acknowledged rows, which is safe to redo: it need not wait for the disk.
    return options.store.transaction(async (tx) => {
      const [row] = await tx.query<{ locked: unknown }>(`SELECT pg_try_advisory_xact_lock(${PG_OUTBOX_RELAY_LOCK}) AS locked`);
      if (!row?.locked) return { kind: "standby" } as const;
      return publisher(tx, limit, 0n, true);
    }, { durable: false });
  }

  /** Deletes the acknowledged rows without waiting for the disk (see above: redoing it is safe). */
  async function deletePublished(): Promise<void> {
    deletedAtMs = Date.now();
    if (publishedSeq <= deletedSeq) return;
    const through = publishedSeq;
    await options.store.transaction((tx) => tx.execute("DELETE FROM outbox WHERE seq <= $1", [through]), { durable: false });
    deletedSeq = through;
  }

  let lagRefreshedAtMs = 0;
  async function refreshLag(result: CycleResult): Promise<void> {
    if (result.kind === "idle") {
      // The cycle just found no rows: nothing is pending, no need to count.
      lag = { pending: 0, oldestCreatedAtMs: undefined };
      return;
    }
    const nowMs = Date.now();
    if (result.kind === "published" && nowMs - lagRefreshedAtMs < OUTBOX_LAG_REFRESH_MS) return;
    lagRefreshedAtMs = nowMs;
    const [row] = await options.store.query<{ pending: unknown; oldest: unknown }>(
      "SELECT COUNT(*) AS pending, MIN(created_at_ms) AS oldest FROM outbox WHERE seq > $1",
      [options.store.dialect === "postgres" ? 0n : publishedSeq],
    );
    lag = {
      pending: Number(row?.pending ?? 0),
      oldestCreatedAtMs: row?.oldest === null || row?.oldest === undefined ? undefined : Number(row.oldest),
    };
  }

  async function run(): Promise<void> {
    let failures = 0;
    let standby = false;
    while (!stopped) {
      // After a failure one row goes alone until it is acknowledged, so a batch is never
      // pipelined into a bus that is rejecting messages (which could reorder them).
      const result = await cycle(failures > 0 ? 1 : batchSize).catch(
        (error: unknown): CycleResult => ({ kind: "failed", error, published: 0 }),
      );
      await refreshLag(result).catch((error: unknown) => logger.warn({ error: errorText(error) }, "outbox lag query failed"));
      if (result.kind === "failed") {
        const delayMs = backoffDelayMs(backoff, failures);
        failures += 1;
        logger.warn({ error: errorText(result.error), failures, delayMs, pending: lag.pending }, "outbox publish failed; retrying");
        await backoffSleeper.sleep(delayMs);
        continue;
      }
      if (failures > 0) logger.info({ failures }, "outbox publishing again");
      failures = 0;
      if ((result.kind === "standby") !== standby) {
        standby = result.kind === "standby";
        logger.info({ standby }, standby ? "another outbox relay is active; standing by" : "outbox relay active");
      }
      if (result.kind === "published" && result.full) continue;
      await pollSleeper.sleep(pollIntervalMs);
    }
  }

  const running = run();
  return {
    notify: () => pollSleeper.wake(),
    lag: () => ({
      pending: lag.pending,
      oldestAgeMs: lag.oldestCreatedAtMs === undefined ? 0 : Math.max(0, Date.now() - lag.oldestCreatedAtMs),
    }),
    async stop() {
      stopped = true;
      pollSleeper.wake();
      backoffSleeper.wake();
      await running;
      closePublisher();
      if (options.store.dialect !== "postgres") {
        await deletePublished().catch((error: unknown) => logger.warn({ error: errorText(error) }, "outbox cleanup at stop failed; the rows will be published again"));
      }
    },
  };
}

/**
 * Reads the oldest rows after `afterSeq`, publishes them in order, and reports the acknowledged
 * prefix; with `deleteNow` it deletes that prefix in the same cycle (PostgreSQL, where relays
 * take turns), otherwise the relay deletes it later (SQLite, one relay per file).
 */
function createBatchPublisher(
  options: OutboxRelayOptions,
  logger: BusLogger,
): { cycle: (queryable: Queryable, limit: number, afterSeq: bigint, deleteNow: boolean) => Promise<CycleResult>; close: () => void } {
  const timeout = options.publishTimeoutMs ?? DEFAULT_OUTBOX_PUBLISH_TIMEOUT_MS;
  const fast = options.nc ? new JetStreamPublisher(options.nc) : undefined;
  const publish = (row: OutboxRow): Promise<{ duplicate: boolean }> => (fast
    ? fast.publish(row.subject, row.data, row.event_id, timeout)
    : publishEnvelope(options.js, row.data, row.event_id, row.subject, timeout));
  const cycle = async (queryable: Queryable, limit: number, afterSeq: bigint, deleteNow: boolean): Promise<CycleResult> => {
    const rows = await queryable.query<OutboxRow & Record<string, unknown>>(
      "SELECT seq, event_id, subject, data FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2",
      [afterSeq, limit],
    );
    if (rows.length === 0) return { kind: "idle" };
    const acks = rows.map(publish);
    const settled = await Promise.allSettled(acks);
    const firstFailure = settled.findIndex((outcome) => outcome.status === "rejected");
    const published = firstFailure === -1 ? rows.length : firstFailure;
    const lastSeq = published > 0 ? rows[published - 1]!.seq : afterSeq;
    if (published > 0) {
      // Exactly the rows published: on PostgreSQL a row with a lower seq may have committed after
      // the SELECT, unpublished, so "seq <= last" could delete it unsent.
      if (deleteNow) {
        const seqs = rows.slice(0, published).map((row) => row.seq);
        await queryable.execute(`DELETE FROM outbox WHERE seq IN (${seqs.map((_, index) => `$${index + 1}`).join(", ")})`, seqs);
      }
      options.onPublished?.(published);
    }
    if (firstFailure === -1) return { kind: "published", full: rows.length === limit, lastSeq };
    warnIfStoredAfterFailure(settled.slice(firstFailure + 1), logger);
    return { kind: "failed", error: (settled[firstFailure] as PromiseRejectedResult).reason, published, lastSeq };
  };
  return { cycle, close: () => fast?.close() };
}

/** A later event stored while an earlier one failed means the stream holds them out of order. */
function warnIfStoredAfterFailure(rest: readonly PromiseSettledResult<{ duplicate: boolean }>[], logger: BusLogger): void {
  const storedAfter = rest.filter((outcome) => outcome.status === "fulfilled" && !outcome.value.duplicate).length;
  if (storedAfter > 0) {
    logger.warn({ storedAfter }, "JetStream stored events after one that failed; they may reach consumers out of order");
  }
}

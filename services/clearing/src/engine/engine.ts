// The single writer (ARCHITECTURE.md "Storage and scale"): operations apply to the in-memory
// ledger in arrival order, synchronously; their changes collect in a journal; the journal is
// committed to the store in one transaction (group commit) while the next one collects; each
// caller is answered only after the batch holding its change is durable. Batches are pipelined:
// the next one is handed to the store (a BatchChain, written in order) while the previous one is
// still being written, at most BATCHES_IN_FLIGHT at once. A failed commit fails its batch and
// every batch behind it, and memory is rebuilt from the store.
import { TurnQueue, type Logger } from "@clearmesh/runtime";
import type { BatchChain, Store } from "@clearmesh/store";
import { clearingError } from "../errors.js";
import type { EventSealer, SealedEvent } from "../events.js";
import { Journal } from "./journal.js";
import { KnownIds } from "./known-ids.js";
import { Ledger, type LedgerPolicy } from "./ledger.js";
import { loadLedger } from "./load.js";
import { batchStatements } from "./persist.js";
import type { BatchClock } from "./recent.js";
import { LedgerError, type ParticipantView } from "./types.js";

export interface EngineDeps {
  store: Store;
  participants: ParticipantView;
  policy: LedgerPolicy;
  sealEvents: EventSealer;
  notifyOutbox: () => void;
  now: () => number;
  logger: Logger;
  /** Most operations waiting for durability at once; beyond it callers get UNAVAILABLE. */
  maxPendingOperations: number;
  /**
   * Most callers answered in one turn of the event loop once their batch is durable, the rest in
   * the next turns, in the order their batches became durable (ANSWERS_PER_TURN; 0 or absent:
   * a batch's callers all at once).
   */
  answersPerTurn?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Batch {
  journal: Journal;
  waiters: Waiter[];
  /** The batch's events signed so far, in journal order: each is signed as its operation applies. */
  sealed: SealedEvent[];
  /** Why an event could not be sealed: the batch fails when it is cut. */
  sealFailure?: unknown;
}

const newBatch = (): Batch => ({ journal: new Journal(), waiters: [], sealed: [] });

/**
 * Batches cut and not yet durable, at most: one the store is writing and one queued behind it,
 * so the store starts the next the moment the previous commits while this thread answers the
 * previous one's callers. Operations applied meanwhile collect in the next batch.
 */
export const BATCHES_IN_FLIGHT = 2;

export class ClearingEngine implements BatchClock {
  private ledger!: Ledger;
  private knownIds = new KnownIds(0);
  /** Batches cut for commit so far; the one collecting is the next. */
  private cutBatches = 0;
  /** Callers of durable batches, answered at most ANSWERS_PER_TURN a turn, in order. */
  private readonly answering: TurnQueue;
  private durableBatches = 0;
  private collecting: Batch = newBatch();
  /** Batches cut and not yet finished (durable or failed). */
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** The store's ordered writer for this load's batches. */
  private chain: BatchChain | undefined;
  /** Settles once the last cut batch was handed to the chain (true) or given up (false). */
  private lastHandedOver: Promise<boolean> = Promise.resolve(true);
  /** Settles once the last cut batch finished: true if it (and so every batch before it) is durable. */
  private lastFinished: Promise<boolean> = Promise.resolve(true);
  private scheduled = false;
  private state: "loading" | "ready" | "reloading" | "stopped" = "loading";
  private pendingOperations = 0;
  private readonly loadListeners: Array<(ledger: Ledger) => void> = [];

  constructor(private readonly deps: EngineDeps) {
    this.answering = new TurnQueue(deps.answersPerTurn ?? 0);
  }

  get ready(): boolean {
    return this.state === "ready";
  }

  /** The batch operations applied now belong to. */
  collectingBatch(): number {
    return this.cutBatches + 1;
  }

  /** The last batch whose changes are durable (every batch before it is too). */
  committedBatch(): number {
    return this.durableBatches;
  }

  /** Loads the ledger from the store (the caller holds the leader lock). */
  async start(): Promise<void> {
    await this.load();
    this.state = "ready";
  }

  private async load(): Promise<void> {
    const ledger = new Ledger(this.deps.participants, this.deps.policy, this.collecting.journal);
    const { createdFirstWindow } = await loadLedger(this.deps.store, ledger, this.deps.now());
    ledger.checkInvariants();
    this.knownIds.abandon();
    const knownIds = await KnownIds.sized(this.deps.store);
    this.knownIds = knownIds;
    this.ledger = ledger;
    this.chain = this.deps.store.batchChain();
    this.lastHandedOver = Promise.resolve(true);
    this.lastFinished = Promise.resolve(true);
    for (const listener of this.loadListeners) listener(ledger);
    if (createdFirstWindow) {
      // The first window is written like any change, in the first batch.
      this.collecting.journal.window(ledger.openWindow);
      this.schedule();
    }
    this.deps.logger.info({ accounts: ledger.accounts.size, pending: ledger.pending.size, window: ledger.openWindow.windowId }, "ledger loaded");
    void this.fillKnownIds(knownIds);
  }

  /** Reads the store's transfer ids into the filter while the engine serves; retries until done or replaced. */
  private async fillKnownIds(knownIds: KnownIds): Promise<void> {
    const startedAt = Date.now();
    for (let attempt = 0; !this.doneWith(knownIds); attempt += 1) {
      try {
        if (await knownIds.fill(this.deps.store)) {
          this.deps.logger.info({ transferIds: knownIds.size, ms: Date.now() - startedAt }, "transfer ids loaded");
        }
        return;
      } catch (error) {
        if (this.doneWith(knownIds)) return;
        this.deps.logger.warn({ err: (error as Error).message, attempt }, "reading transfer ids failed; new ids are checked against the store meanwhile");
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }

  /** The engine stopped, or a reload replaced this filter. */
  private doneWith(knownIds: KnownIds): boolean {
    return this.knownIds !== knownIds || this.state === "stopped";
  }

  /** Whether the transfer id filter has read the store (tests). */
  get transferIdsLoaded(): boolean {
    return this.knownIds.filled;
  }

  /**
   * Applies an operation to the ledger now, in order, and resolves with its result once the
   * batch holding its changes is durable. An operation that throws a LedgerError having
   * journaled nothing is refused at once; one that journaled something (a refusal that must
   * stay refused) is refused after that commit.
   */
  apply<T>(operation: (ledger: Ledger, journal: Journal) => T): Promise<T> {
    if (this.state !== "ready") return Promise.reject(this.unavailable());
    if (this.pendingOperations >= this.deps.maxPendingOperations) {
      return Promise.reject(clearingError("STORE_UNAVAILABLE", "clearing is saturated; retry with the same id"));
    }
    const batch = this.collecting;
    const changesBefore = batch.journal.changes;
    let result: T;
    let refusal: unknown;
    try {
      result = operation(this.ledger, batch.journal);
    } catch (error) {
      this.seal(batch);
      if (!(error instanceof LedgerError)) {
        // An invariant broke mid-operation: memory can no longer be trusted.
        this.deps.logger.error({ err: (error as Error).message }, "clearing invariant violated; reloading from the store");
        this.fail(batch, error);
        return Promise.reject(clearingError("STORE_UNAVAILABLE", "clearing is recovering; retry with the same id"));
      }
      if (batch.journal.changes === changesBefore) return Promise.reject(error);
      refusal = error;
    }
    this.seal(batch);
    this.pendingOperations += 1;
    return new Promise<T>((resolve, reject) => {
      batch.waiters.push({
        resolve: () => (refusal === undefined ? resolve(result) : reject(refusal)),
        reject,
      });
      this.schedule();
    }).finally(() => {
      this.pendingOperations -= 1;
    });
  }

  /**
   * False when no transfer or refusal with this id exists, in the store or decided since the
   * load: a new id needs no store read. True may be wrong (then the store says no).
   */
  mightKnowTransfer(transferId: string): boolean {
    return this.state !== "ready" || this.knownIds.mightContain(transferId);
  }

  /** Call inside an operation for every transfer id it decides (kept or refused). */
  rememberTransfer(transferId: string): void {
    this.knownIds.add(transferId);
  }

  /**
   * Whether a transfer is prepared and waiting in memory right now (no durability wait). Lets a
   * commit or abort skip its store read: a pending transfer's later decisions are all made here.
   */
  isPending(transferId: string): boolean {
    return this.state === "ready" && this.ledger.pending.has(transferId);
  }

  /** Signs the events the batch journaled since the last call (while the batch still collects). */
  private seal(batch: Batch): void {
    if (batch.sealFailure !== undefined || batch.sealed.length >= batch.journal.eventCount) return;
    try {
      batch.sealed.push(...this.deps.sealEvents(batch.journal.eventsFrom(batch.sealed.length)));
    } catch (error) {
      // The operation has applied; its batch fails as a whole when it is cut.
      batch.sealFailure = error;
    }
  }

  /** Called with the ledger after every load (start, takeover, recovery), to rebuild derived memory. */
  onLoaded(listener: (ledger: Ledger) => void): void {
    this.loadListeners.push(listener);
  }

  /** Runs a read against memory once every change before it is durable (no dirty reads). */
  read<T>(reader: (ledger: Ledger) => T): Promise<T> {
    return this.apply((ledger) => reader(ledger));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= BATCHES_IN_FLIGHT) return;
    this.scheduled = true;
    // One turn of the event loop lets concurrent calls join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.cut();
    });
  }

  /** Cuts the collecting batch and starts committing it, if there is room in the pipeline. */
  private cut(): void {
    if (this.state !== "ready" || this.inFlight >= BATCHES_IN_FLIGHT) return;
    const batch = this.collecting;
    if (batch.journal.isEmpty && batch.waiters.length === 0) return;
    this.collecting = newBatch();
    this.ledger.useJournal(this.collecting.journal);
    const batchNumber = ++this.cutBatches;
    try {
      // The invariants hold at every batch boundary, or nothing of the batch is written.
      this.ledger.checkInvariants();
    } catch (error) {
      this.deps.logger.error({ err: (error as Error).message }, "clearing invariant violated; reloading from the store");
      this.fail(batch, error);
      return;
    }
    this.inFlight += 1;
    void this.commit(batch, batchNumber);
  }

  private async commit(batch: Batch, batchNumber: number): Promise<void> {
    const chain = this.chain!;
    const previousHandedOver = this.lastHandedOver;
    const previousFinished = this.lastFinished;
    let handedOver!: (written: boolean) => void;
    let finished!: (durable: boolean) => void;
    this.lastHandedOver = new Promise((resolve) => { handedOver = resolve; });
    this.lastFinished = new Promise((resolve) => { finished = resolve; });
    let durable = false;
    try {
      if (batch.journal.isEmpty) {
        // Reads only: answered once everything before them is durable (no dirty reads).
        handedOver(await previousHandedOver);
        if (!(await previousFinished)) throw new Error("an earlier batch failed");
      } else {
        const frozen = batch.journal.freeze();
        const nowMs = this.deps.now();
        let written: Promise<void>;
        try {
          // Sealed as each operation applied; a failed seal fails the batch here.
          this.seal(batch);
          if (batch.sealFailure !== undefined) throw batch.sealFailure;
          // The chain writes in the order batches are handed over; one given up stops the rest.
          if (!(await previousHandedOver)) throw new Error("an earlier batch failed before it was written");
          written = chain.write(batchStatements(frozen, batch.sealed, nowMs));
        } catch (error) {
          handedOver(false);
          throw error;
        }
        handedOver(true);
        // On SQLite the writer thread runs it (statements and fsync) while this thread goes on.
        await written;
        if (frozen.events.length > 0) this.deps.notifyOutbox();
      }
      this.durableBatches = Math.max(this.durableBatches, batchNumber);
      durable = true;
    } catch (error) {
      this.deps.logger.error({ err: (error as Error).message }, "clearing batch failed; reloading from the store");
      this.fail(batch, error);
    } finally {
      finished(durable);
      this.inFlight -= 1;
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
    // What collected meanwhile goes to the store at once, before this batch's answers are built.
    this.cut();
    if (durable) this.answer(batch.waiters);
  }

  /**
   * Answers a durable batch's callers, at most answersPerTurn a turn. Their answers are built
   * (encoded, signed) and written as they are resolved, and node sends a turn's writes only once
   * the turn ends: resolved all at once, a batch's answers leave as one burst, the callers take
   * them all at once and send their next calls as one burst, and each side idles while the other
   * works. In parts, the first answers leave while the rest are built (docs/performance.md).
   */
  private answer(waiters: readonly Waiter[]): void {
    for (const waiter of waiters) this.answering.run(waiter.resolve);
  }

  /** Resolves once no batch is being committed. */
  private whenIdle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses the failed batch and everything collected on top of it, then rebuilds memory. */
  private fail(batch: Batch, cause: unknown): void {
    const behind = this.collecting === batch ? [] : this.collecting.waiters;
    const error = clearingError("STORE_UNAVAILABLE", "the change could not be stored; retry with the same id");
    for (const waiter of [...batch.waiters, ...behind]) waiter.reject(error);
    this.collecting = newBatch();
    if (this.state !== "ready") return;
    this.state = "reloading";
    void (async () => {
      for (let attempt = 0; this.state === "reloading"; attempt += 1) {
        try {
          await this.whenIdle();
          await this.load();
          this.state = "ready";
          this.deps.logger.info({ cause: (cause as Error).message }, "clearing reloaded after a failure");
        } catch (error) {
          this.deps.logger.error({ err: (error as Error).message }, "reload failed; retrying");
          await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
        }
      }
    })();
  }

  private unavailable() {
    return this.state === "loading"
      ? clearingError("STANDBY", "this clearing instance is not active; try the active one")
      : clearingError("STORE_UNAVAILABLE", "clearing is recovering; retry with the same id");
  }

  /** Waits for the batch in flight and refuses new operations. */
  async stop(): Promise<void> {
    while (this.inFlight > 0 || this.scheduled) await new Promise((resolve) => setTimeout(resolve, 5));
    this.cut();
    await this.whenIdle();
    this.state = "stopped";
    this.knownIds.abandon();
  }
}

// Decisions the engine made that the store may not show to a read yet. A call that read the
// store before the batch holding a decision committed, and applies after it, must find the
// decision here; once every store read that began before that commit has been applied, the
// store answers for it and the memory lets it go. Memory therefore holds a few batches' worth
// of decisions, not minutes of traffic.

/** The engine's batch counters: the batch now collecting changes, and the last one durable. */
export interface BatchClock {
  collectingBatch(): number;
  committedBatch(): number;
}

export interface StoreRead {
  done(): void;
  stale(): boolean;
}

export class RecentMemory<T> {
  private readonly entries = new Map<string, { value: T; batch: number }>();
  /** Store reads in progress: token → the last durable batch when the read began (ascending). */
  private readonly reads = new Map<number, number>();
  private nextToken = 0;
  /** Bumped by clear() (a reload): reads begun before it may have seen a store the memory no longer covers. */
  private epoch = 0;

  constructor(private readonly clock: BatchClock) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): T | undefined {
    return this.entries.get(key)?.value;
  }

  /** Call inside an engine operation: the value belongs to the batch collecting now. */
  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, { value, batch: this.clock.collectingBatch() });
    this.evict();
  }

  /**
   * Marks a store read that starts now; call `done` once its answer has been applied by the
   * engine (or abandoned). Until then nothing it could have missed is forgotten. `stale()` tells
   * whether memory was cleared (the engine reloaded) since: then the read may be missing
   * decisions memory no longer holds, and the call must be retried.
   */
  beginRead(): StoreRead {
    const token = this.nextToken++;
    const epoch = this.epoch;
    this.reads.set(token, this.clock.committedBatch());
    return {
      done: () => {
        this.reads.delete(token);
      },
      stale: () => this.epoch !== epoch,
    };
  }

  clear(): void {
    this.entries.clear();
    this.epoch += 1;
  }

  /** Forgets values whose batch is durable and older than every read in progress. */
  private evict(): void {
    let horizon = this.clock.committedBatch();
    // Reads are kept in start order and the committed batch only grows: the first is the oldest.
    for (const started of this.reads.values()) {
      horizon = Math.min(horizon, started);
      break;
    }
    for (const [key, entry] of this.entries) {
      if (entry.batch > horizon) break;
      this.entries.delete(key);
    }
  }
}

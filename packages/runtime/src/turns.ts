// How much work a process does in one turn of its event loop, the rest in later turns, in order:
// a TurnQueue with a limit. The process's own queue holds the gRPC calls it starts and the
// answers to its own calls it takes back (the setting CALLS_PER_TURN; 0, the default, is no
// limit); clearing's engine has one for the callers of its durable batches (ANSWERS_PER_TURN).
//
// Why: node's HTTP/2 sessions write what a turn queued only once that turn's callbacks have all
// run. One socket read can carry the requests (or answers) of a whole burst of calls, and a
// service that takes them all in one turn sends all their next calls, or all their answers, at
// its end: the next service then takes the whole burst in one turn of its own, and so on. The
// calls move as one convoy from service to service while the others wait, and on a few shared
// cores much of the machine idles. With a limit, the first calls' writes leave at the end of the
// first turn while the rest are taken in the next turns, so the next service starts on them
// while this one works on the rest (docs/performance.md, "B3 ran as one convoy of 32 payments").
//
// Work past the limit waits in one queue, in the order it came, and runs in later turns (the
// check phase, after node has flushed the previous turn's writes), at most the limit a turn.
// Nothing is dropped or reordered; a call waiting here keeps its deadline running.

export class TurnQueue {
  private limit = 0;
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  private turn: NodeJS.Immediate | undefined;

  /** At most `limit` pieces of work a turn (0: no limit). */
  constructor(limit = 0) {
    this.setLimit(limit);
  }

  /** Sets the limit (0: none). Work already waiting runs under the new one. */
  setLimit(limit: number): void {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`the limit per turn must be an integer >= 0, got ${limit}`);
    this.limit = limit;
    if (this.waiting.length > 0) this.turn ??= setImmediate(() => this.nextTurn());
  }

  get perTurn(): number {
    return this.limit;
  }

  /** Work waiting for a later turn. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /**
   * Runs `work` now if this turn's limit allows it and nothing is waiting, else queues it for a
   * later turn. `work` must not throw (it starts a handler or settles a promise).
   */
  run(work: () => void): void {
    if (this.limit === 0 && this.waiting.length === 0) return work();
    if (this.waiting.length === 0 && this.used < this.limit) {
      this.used += 1;
      this.turn ??= setImmediate(() => this.nextTurn());
      return work();
    }
    this.waiting.push(work);
    this.turn ??= setImmediate(() => this.nextTurn());
  }

  private nextTurn(): void {
    this.turn = undefined;
    const count = this.limit === 0 ? this.waiting.length : Math.min(this.limit, this.waiting.length);
    this.used = count;
    if (count === 0) return;
    const batch = this.waiting.splice(0, count);
    this.turn = setImmediate(() => this.nextTurn());
    for (const work of batch) {
      try {
        work();
      } catch (error) {
        // Work that breaks its promise not to throw fails as it would have outside the queue (an
        // uncaught exception), but only after the rest of its turn's work has run.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** The process's calls and answers (CALLS_PER_TURN). */
const calls = new TurnQueue();

/** Sets the limit for the whole process (0: none). Work already waiting runs under the new one. */
export function setCallsPerTurn(callsPerTurn: number): void {
  calls.setLimit(callsPerTurn);
}

export function callsPerTurn(): number {
  return calls.perTurn;
}

/** Work waiting for a later turn. */
export function callsWaitingForTurn(): number {
  return calls.waitingCount;
}

/**
 * Runs `work` now if this turn's limit allows it and nothing is waiting, else queues it for a
 * later turn. `work` must not throw (it starts a handler or settles a promise).
 */
export function inTurn(work: () => void): void {
  calls.run(work);
}

// How many gRPC calls a process starts, and how many answers to its own calls it takes back, in
// one turn of its event loop (the setting CALLS_PER_TURN; 0, the default, is no limit).
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

let limit = 0;
let used = 0;
const waiting: Array<() => void> = [];
let turn: NodeJS.Immediate | undefined;

/** Sets the limit for the whole process (0: none). Work already waiting runs under the new one. */
export function setCallsPerTurn(callsPerTurn: number): void {
  if (!Number.isInteger(callsPerTurn) || callsPerTurn < 0) throw new RangeError(`calls per turn must be an integer >= 0, got ${callsPerTurn}`);
  limit = callsPerTurn;
  if (waiting.length > 0) turn ??= setImmediate(nextTurn);
}

export function callsPerTurn(): number {
  return limit;
}

/** Work waiting for a later turn. */
export function callsWaitingForTurn(): number {
  return waiting.length;
}

/**
 * Runs `work` now if this turn's limit allows it and nothing is waiting, else queues it for a
 * later turn. `work` must not throw (it starts a handler or settles a promise).
 */
export function inTurn(work: () => void): void {
  if (limit === 0 && waiting.length === 0) return work();
  if (waiting.length === 0 && used < limit) {
    used += 1;
    turn ??= setImmediate(nextTurn);
    return work();
  }
  waiting.push(work);
  turn ??= setImmediate(nextTurn);
}

function nextTurn(): void {
  turn = undefined;
  const count = limit === 0 ? waiting.length : Math.min(limit, waiting.length);
  used = count;
  if (count === 0) return;
  const batch = waiting.splice(0, count);
  turn = setImmediate(nextTurn);
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

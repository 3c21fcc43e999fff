// Ed25519 verification on one thread of the process's own (verifier-thread.worker.mjs), fed in
// batches: the signatures asked for during a turn of the event loop go over in messages of up
// to VERIFIER_BATCH_MAX, at the end of the turn (or as soon as a message is full), and come back
// as one verdict byte each. Against libuv's thread pool with node:crypto, this costs a wake-up per
// batch rather than per signature, and verifies with libsodium (about 45 µs against 100):
// clearing used about 0.2 ms less CPU per B1 call (docs/performance.md).
//
// Nothing is lost if the thread is: the batches it had not answered are verified in place, on the
// event loop, with the same verdicts, and the next batch starts a new thread. A thread counts as
// lost when it exits, fails, answers out of turn, or leaves a batch unanswered for
// VERIFIER_ANSWER_LIMIT_MS (then it is terminated). A thread that could not start (lost before
// it said it was ready) is not started again: verification then stays in place for the life of
// the process, with a warning.
import { Worker } from "node:worker_threads";

/** Most signatures in one message to the thread; more asked in one turn go in further messages. */
export const VERIFIER_BATCH_MAX = 4;

/**
 * Longest a batch may wait for its answer before the thread counts as lost. A batch takes well
 * under a millisecond of the thread's time; this only bounds how long callers wait on a thread
 * that hangs.
 */
export const VERIFIER_ANSWER_LIMIT_MS = 2_000;

/**
 * One signature to verify, its bytes copied when it was asked for (what points.ts checked is what
 * is verified, whatever the caller does with its arrays afterwards): a u32 message length, the
 * 32-byte public key, the 64-byte signature, the message. A batch is these entries behind a u32
 * batch number and a u32 count; the thread answers with the batch number and one verdict byte
 * per entry (little-endian numbers).
 */
interface Job {
  entry: Uint8Array;
  resolve: (valid: boolean) => void;
}

/** The in-place check the lost batches fall back to (keys.ts's ed25519Verify). */
type InPlace = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

const HEADER_BYTES = 8;
/** What the thread says once its script has loaded, before any answer. */
const READY = "ready";
const ENTRY_HEADER_BYTES = 4 + 32 + 64;

interface Batch {
  id: number;
  jobs: Job[];
  /** performance.now() when it was sent. */
  sentAt: number;
}

interface VerifierThread {
  worker: Worker;
  /** Batches sent to this thread and not answered, in the order sent (it answers in order). */
  unanswered: Batch[];
  /** Whether the thread said it is ready (its script loaded); one lost before that could not start. */
  ready: boolean;
  /** Armed while the thread owes answers: lets it go if the oldest waits past the limit. */
  watchdog: NodeJS.Timeout | undefined;
  /** Counts the thread as lost and terminates it. */
  letGo(reason: string): void;
}

let collecting: Job[] = [];
let flushScheduled = false;
let nextBatchId = 1;
let thread: VerifierThread | undefined;
let unusable = false;
let scriptUrl = new URL("./verifier-thread.worker.mjs", import.meta.url);
let answerLimitMs = VERIFIER_ANSWER_LIMIT_MS;
/** keys.ts's ed25519Verify, given with every call: what lost batches are verified with. */
let inPlace: InPlace;

/**
 * Resolves with whether the signature verifies. The caller has checked the lengths and refused
 * what points.ts refuses. Never rejects.
 */
export function verifyOnVerifierThread(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, verifyInPlace: InPlace): Promise<boolean> {
  inPlace = verifyInPlace;
  if (unusable) return Promise.resolve(inPlace(publicKey, message, signature));
  const entry = new Uint8Array(ENTRY_HEADER_BYTES + message.length);
  new DataView(entry.buffer).setUint32(0, message.length, true);
  entry.set(publicKey, 4);
  entry.set(signature, 36);
  entry.set(message, ENTRY_HEADER_BYTES);
  return new Promise((resolve) => {
    collecting.push({ entry, resolve });
    if (collecting.length >= VERIFIER_BATCH_MAX) send();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        send();
      });
    }
  });
}

function inPlaceAll(jobs: readonly Job[]): void {
  for (const { entry, resolve } of jobs) resolve(inPlace(entry.subarray(4, 36), entry.subarray(ENTRY_HEADER_BYTES), entry.subarray(36, 100)));
}

/** Sends what collected so far as one batch (nothing if nothing did). */
function send(): void {
  const jobs = collecting;
  if (jobs.length === 0) return;
  collecting = [];
  const current = unusable ? undefined : thread ?? start();
  if (!current) return inPlaceAll(jobs);
  let size = HEADER_BYTES;
  for (const job of jobs) size += job.entry.length;
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const id = nextBatchId;
  nextBatchId = nextBatchId >= 0xffffffff ? 1 : nextBatchId + 1;
  view.setUint32(0, id, true);
  view.setUint32(4, jobs.length, true);
  let offset = HEADER_BYTES;
  for (const job of jobs) {
    bytes.set(job.entry, offset);
    offset += job.entry.length;
  }
  // While it owes answers the thread keeps the process alive (a caller awaits them); idle, it
  // does not.
  if (current.unanswered.push({ id, jobs, sentAt: performance.now() }) === 1) {
    current.worker.ref();
    watch(current);
  }
  // Transferred, not copied.
  current.worker.postMessage(buffer, [buffer]);
}

function start(): VerifierThread | undefined {
  let worker: Worker;
  try {
    worker = new Worker(scriptUrl, {
      // Plain JavaScript: no TypeScript loader in the thread.
      execArgv: [],
      // It holds a batch at a time: a small heap.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
  } catch (error) {
    giveUp(error);
    return undefined;
  }
  const lost = (error?: unknown) => {
    if (thread === started) thread = undefined;
    disarm(started);
    if (!started.ready) giveUp(error);
    for (const batch of started.unanswered.splice(0)) inPlaceAll(batch.jobs);
  };
  const started: VerifierThread = {
    worker, unanswered: [], ready: false, watchdog: undefined,
    letGo(reason) {
      lost(new Error(reason));
      void worker.terminate();
    },
  };
  worker.on("message", (answer: unknown) => {
    if (answer === READY && !started.ready) {
      started.ready = true;
      return;
    }
    const batch = started.unanswered[0];
    // An answer that is not the next batch's, in full, means the thread cannot be trusted with
    // the rest: it is let go and everything it owes is verified in place.
    if (!batch || !(answer instanceof Uint8Array) || answer.length !== 4 + batch.jobs.length
      || new DataView(answer.buffer, answer.byteOffset, 4).getUint32(0, true) !== batch.id) {
      started.letGo("it answered out of turn");
      return;
    }
    started.unanswered.shift();
    if (started.unanswered.length === 0) {
      worker.unref();
      disarm(started);
    }
    for (let index = 0; index < batch.jobs.length; index += 1) batch.jobs[index]!.resolve(answer[4 + index] === 1);
  });
  worker.on("messageerror", (error) => started.letGo(error.message));
  worker.on("error", lost);
  worker.on("exit", () => lost());
  // Only after the listeners: adding a 'message' listener refs the thread again.
  worker.unref();
  thread = started;
  return started;
}

/** Arms the thread's watchdog for its oldest unanswered batch; re-arms itself while answers are owed. */
function watch(current: VerifierThread): void {
  const oldest = current.unanswered[0];
  if (!oldest) return;
  const left = oldest.sentAt + answerLimitMs - performance.now();
  if (left <= 0) return current.letGo(`it left a batch unanswered for ${answerLimitMs} ms`);
  disarm(current);
  // The thread itself keeps the process alive while it owes answers; the timer never does. It
  // looks again after this turn's I/O: if the event loop itself was held up past the limit, the
  // answers that came meanwhile are taken first and the thread is not blamed for the wait.
  // (Should the thread have been answered or lost by then, watch finds nothing owed.)
  current.watchdog = setTimeout(() => {
    current.watchdog = undefined;
    setImmediate(watch, current);
  }, left).unref();
}

function disarm(current: VerifierThread): void {
  clearTimeout(current.watchdog);
  current.watchdog = undefined;
}

function giveUp(error: unknown): void {
  if (unusable) return;
  unusable = true;
  const reason = error instanceof Error ? error.message : "it exited";
  process.emitWarning(`the Ed25519 verifier thread could not run (${reason}); signatures are verified on the event loop instead`, { code: "CLEARMESH_VERIFIER_THREAD" });
}

/** For tests only: the running thread, and a way to start the next one from another script. */
export const verifierThreadForTests = {
  thread: (): Worker | undefined => thread?.worker,
  unusable: (): boolean => unusable,
  /** Uses `url` for the next thread, with another answer limit if given, and forgets an earlier give-up. */
  useScript(url: URL, limitMs = VERIFIER_ANSWER_LIMIT_MS): void {
    scriptUrl = url;
    answerLimitMs = limitMs;
    unusable = false;
  },
};

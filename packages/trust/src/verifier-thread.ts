// Ed25519 verification on one thread of the process's own (verifier-thread.worker.mjs), fed in
// batches: the signatures asked for during a turn of the event loop go over in messages of up
// to VERIFIER_BATCH_MAX, at the end of the turn (or as soon as a message is full), and come back
// as one verdict byte each. Against libuv's thread pool with node:crypto, this costs a wake-up per
// batch rather than per signature, and verifies with libsodium (about 45 µs against 100):
// clearing used about 0.2 ms less CPU per B1 call (docs/performance.md).
//
// Nothing is lost if the thread is: the batches it had not answered are verified in place, on the
// event loop, with the same verdicts, and the next batch starts a new thread. A thread lost before
// it answered anything (it cannot start here) is not started again: verification then stays in
// place for the life of the process, with a warning.
import { Worker } from "node:worker_threads";

/** Most signatures in one message to the thread; more asked in one turn go in further messages. */
export const VERIFIER_BATCH_MAX = 4;

interface Job {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  resolve: (valid: boolean) => void;
}

/** The in-place check the lost batches fall back to (keys.ts's ed25519Verify). */
type InPlace = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

const HEADER_BYTES = 4;
const ENTRY_BYTES = 4 + 32 + 64;

interface VerifierThread {
  worker: Worker;
  /** Batches sent to this thread and not answered, in the order sent (it answers in order). */
  unanswered: Job[][];
  answered: boolean;
}

let collecting: Job[] = [];
let flushScheduled = false;
let thread: VerifierThread | undefined;
let unusable = false;
let scriptUrl = new URL("./verifier-thread.worker.mjs", import.meta.url);

/**
 * Resolves with whether the signature verifies. The caller has checked the lengths and refused
 * what points.ts refuses. Never rejects.
 */
export function verifyOnVerifierThread(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, inPlace: InPlace): Promise<boolean> {
  if (unusable) return Promise.resolve(inPlace(publicKey, message, signature));
  return new Promise((resolve) => {
    collecting.push({ publicKey, message, signature, resolve });
    if (collecting.length >= VERIFIER_BATCH_MAX) send(inPlace);
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        send(inPlace);
      });
    }
  });
}

/** Sends what collected so far as one batch (nothing if nothing did). */
function send(inPlace: InPlace): void {
  const batch = collecting;
  if (batch.length === 0) return;
  collecting = [];
  const current = thread ?? start(inPlace);
  if (!current) {
    for (const job of batch) job.resolve(inPlace(job.publicKey, job.message, job.signature));
    return;
  }
  let size = HEADER_BYTES;
  for (const job of batch) size += ENTRY_BYTES + job.message.length;
  const buffer = new ArrayBuffer(size);
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  view.setUint32(0, batch.length, true);
  let offset = HEADER_BYTES;
  for (const job of batch) {
    view.setUint32(offset, job.message.length, true);
    bytes.set(job.publicKey, offset + 4);
    bytes.set(job.signature, offset + 36);
    bytes.set(job.message, offset + ENTRY_BYTES);
    offset += ENTRY_BYTES + job.message.length;
  }
  // While it owes answers the thread keeps the process alive (a caller awaits them); idle, it
  // does not.
  if (current.unanswered.push(batch) === 1) current.worker.ref();
  // Transferred, not copied.
  current.worker.postMessage(buffer, [buffer]);
}

function start(inPlace: InPlace): VerifierThread | undefined {
  let worker: Worker;
  try {
    worker = new Worker(scriptUrl, {
      // Plain JavaScript: no TypeScript loader in the thread.
      execArgv: [],
      // It holds a batch at a time and a cache of key objects: a small heap.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
  } catch (error) {
    giveUp(error);
    return undefined;
  }
  const started: VerifierThread = { worker, unanswered: [], answered: false };
  const inPlaceAll = (batch: Job[]) => {
    for (const job of batch) job.resolve(inPlace(job.publicKey, job.message, job.signature));
  };
  worker.on("message", (verdicts: Uint8Array) => {
    started.answered = true;
    const batch = started.unanswered.shift();
    if (started.unanswered.length === 0) worker.unref();
    if (!batch) return;
    if (!(verdicts instanceof Uint8Array) || verdicts.length !== batch.length) return inPlaceAll(batch);
    for (let index = 0; index < batch.length; index += 1) batch[index]!.resolve(verdicts[index] === 1);
  });
  const lost = (error?: unknown) => {
    if (thread === started) thread = undefined;
    if (!started.answered) giveUp(error);
    for (const batch of started.unanswered.splice(0)) inPlaceAll(batch);
  };
  worker.on("error", lost);
  worker.on("exit", () => lost());
  // Only after the listeners: adding a 'message' listener refs the thread again.
  worker.unref();
  thread = started;
  return started;
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
  /** Uses `url` for the next thread and forgets an earlier give-up. */
  useScript(url: URL): void {
    scriptUrl = url;
    unusable = false;
  },
};

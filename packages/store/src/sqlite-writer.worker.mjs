// The SQLite batch writer's thread (see SqliteBatchWriter in sqlite-writer.ts): its own
// connection to the store's file, with the store's durability settings, running one batch of
// statements per transaction. Statement execution and the fsync at COMMIT happen here, so the
// service's event loop keeps serving calls meanwhile. Plain JavaScript so it starts the same way
// under tsx, vitest and plain node.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const { path, busyTimeoutMs } = workerData;
const db = new Database(path, { timeout: busyTimeoutMs });
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("foreign_keys = ON");
// A blocking wait for the write lock is fine on this thread: nothing else runs here.
db.pragma(`busy_timeout = ${Number(busyTimeoutMs)}`);
db.defaultSafeIntegers(true);

// Statements by the number the main thread gave their SQL; the SQL text comes once, with the
// first batch that uses it (the main thread keeps the same numbering, see sqlite-writer.ts).
const statements = new Map();

// Chains (BatchChain) with a failed batch: their later batches are refused unrun. Same code as
// CHAIN_BROKEN in sqlite-writer.ts.
const brokenChains = new Set();
const CHAIN_BROKEN = "CLEARMESH_CHAIN_BROKEN";

function prepared({ id, sql }) {
  let statement = statements.get(id);
  if (!statement) {
    if (sql === undefined) throw new Error(`the writer thread has no statement ${id}`);
    statement = db.prepare(sql);
    statements.set(id, statement);
  }
  return statement;
}

/** Uint8Array arrives from structured clone; better-sqlite3 binds Buffers as BLOBs. */
function bindable(value) {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

parentPort.on("message", (message) => {
  if (message.type === "forget-all") {
    statements.clear();
    return;
  }
  if (message.type === "forget") {
    for (const id of message.ids) statements.delete(id);
    return;
  }
  if (message.type === "close") {
    db.close();
    parentPort.postMessage({ type: "closed" });
    return;
  }
  const { id, batch, chain } = message;
  if (chain !== undefined && brokenChains.has(chain)) {
    // Its chain's earlier batch failed: this one was written on top of it, so it must not run.
    parentPort.postMessage({ type: "failed", id, error: { message: "an earlier batch of this chain failed", code: CHAIN_BROKEN } });
    return;
  }
  try {
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const { statement, args } of batch) prepared(statement).run(...args.map(bindable));
      db.exec("COMMIT");
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw error;
    }
    parentPort.postMessage({ type: "done", id });
  } catch (error) {
    if (chain !== undefined) brokenChains.add(chain);
    parentPort.postMessage({ type: "failed", id, error: { message: String(error?.message ?? error), code: error?.code } });
  }
});

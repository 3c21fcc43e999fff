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

const statements = new Map();
const STATEMENT_CACHE_SIZE = 200;

function prepared(sql) {
  let statement = statements.get(sql);
  if (statement) {
    statements.delete(sql);
  } else {
    statement = db.prepare(sql);
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value);
  }
  statements.set(sql, statement);
  return statement;
}

/** Uint8Array arrives from structured clone; better-sqlite3 binds Buffers as BLOBs. */
function bindable(value) {
  return value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

parentPort.on("message", (message) => {
  if (message.type === "close") {
    db.close();
    parentPort.postMessage({ type: "closed" });
    return;
  }
  const { id, batch } = message;
  try {
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const { sql, args } of batch) prepared(sql).run(...args.map(bindable));
      db.exec("COMMIT");
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw error;
    }
    parentPort.postMessage({ type: "done", id });
  } catch (error) {
    parentPort.postMessage({ type: "failed", id, error: { message: String(error?.message ?? error), code: error?.code } });
  }
});

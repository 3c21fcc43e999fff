// Keeps the notifier's tables bounded: finished deliveries (delivered or dead-lettered) and their
// notifications are deleted NOTIFY_RETENTION_DAYS after they were requested, and rate-limit
// reservations once they leave their hour. In batches, so one run never holds a long transaction.
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { RATE_WINDOW_MS } from "./repository.js";

export const HOUSEKEEPING_INTERVAL_MS = 10 * 60 * 1000;
const PURGE_BATCH_ROWS = 500;
/** At most this many batches per run; the rest waits for the next run. */
const PURGE_MAX_BATCHES = 20;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Deletes what is past retention; returns the notifications deleted. */
export async function purgeExpired(store: Store, retentionDays: number, nowMs: number): Promise<number> {
  await store.execute("DELETE FROM recipient_sends WHERE sent_at_ms <= $1", [BigInt(nowMs - RATE_WINDOW_MS)]);
  const cutoff = BigInt(nowMs - retentionDays * DAY_MS);
  let deleted = 0;
  for (let batch = 0; batch < PURGE_MAX_BATCHES; batch += 1) {
    const count = await store.transaction(async (tx) => {
      const rows = await tx.query<{ notification_id: string }>(
        "SELECT notification_id FROM deliveries WHERE status IN ('delivered', 'dead_lettered') AND created_at_ms < $1 LIMIT $2",
        [cutoff, BigInt(PURGE_BATCH_ROWS)],
      );
      if (rows.length === 0) return 0;
      const ids = rows.map((row) => row.notification_id);
      const placeholders = ids.map((_, index) => `$${index + 1}`).join(", ");
      await tx.execute(`DELETE FROM deliveries WHERE notification_id IN (${placeholders}) AND status IN ('delivered', 'dead_lettered')`, ids);
      await tx.execute(`DELETE FROM notifications WHERE notification_id IN (${placeholders})`, ids);
      return ids.length;
    });
    deleted += count;
    if (count < PURGE_BATCH_ROWS) break;
  }
  return deleted;
}

export function startHousekeeping(options: { store: Store; logger: Logger; retentionDays: number; now: () => number }): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = purgeExpired(options.store, options.retentionDays, options.now()).then(
      (deleted) => { if (deleted > 0) options.logger.info({ deleted }, "deleted notifications past retention"); },
      (error: Error) => options.logger.warn({ err: error.message }, "housekeeping failed; next run retries"),
    );
  }, HOUSEKEEPING_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

import type pg from "pg";
import { LossNotifier, type LeaderLock, type LockSettings } from "./lock-common.js";
import type { PostgresStore } from "./postgres.js";

/**
 * Session-level advisory lock on a connection of its own (outside the pool), held open: the
 * server releases it when that session ends, so a dead holder frees it for a standby.
 */
export async function acquirePgLock(store: PostgresStore, name: string, settings: LockSettings): Promise<LeaderLock | null> {
  const client = await store.connectDedicated();
  try {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS ok", [name]);
    if (rows[0]?.ok === true) return new PgLeaderLock(client, name, settings);
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  await client.end().catch(() => {});
  return null;
}

class PgLeaderLock implements LeaderLock {
  readonly #loss = new LossNotifier();
  readonly #timer: NodeJS.Timeout;
  #released = false;
  #beat: Promise<void> | undefined;

  constructor(
    private readonly client: pg.Client,
    readonly name: string,
    private readonly settings: LockSettings,
  ) {
    client.on("error", (error) => this.#lose(error));
    client.on("end", () => this.#lose(new Error("leader lock connection closed")));
    // A half-open TCP connection raises no error for many minutes, so prove liveness by query.
    this.#timer = setInterval(() => this.#heartbeat(), settings.heartbeatMs).unref();
  }

  get held(): boolean {
    return !this.#released && !this.#loss.lost;
  }

  onLost(cb: (reason: Error) => void): void {
    this.#loss.onLost(cb);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.#beat; // one query at a time on a pg client
    try {
      if (!this.#loss.lost) await this.client.query("SELECT pg_advisory_unlock(hashtext($1))", [this.name]);
    } finally {
      await this.client.end().catch(() => {});
    }
  }

  #heartbeat(): void {
    if (!this.held || this.#beat) return; // never two queries at once on one pg client
    let timeout: NodeJS.Timeout | undefined;
    const overdue = new Promise<never>((_, reject) => {
      timeout = setTimeout(() => reject(new Error("leader lock heartbeat unanswered")), this.settings.staleMs);
    });
    this.#beat = Promise.race([this.client.query("SELECT 1"), overdue])
      .then(() => undefined, (error: Error) => this.#lose(error))
      .finally(() => {
        clearTimeout(timeout);
        this.#beat = undefined;
      });
  }

  #lose(reason: Error): void {
    if (this.#released || this.#loss.lost) return;
    clearInterval(this.#timer);
    this.#loss.fire(reason);
    // Close our side so the server ends the session (and the lock) as soon as it notices.
    void this.client.end().catch(() => {});
  }
}

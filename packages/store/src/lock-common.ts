/** Proof that this process is the single writer for `name` until released or lost. */
export interface LeaderLock {
  readonly name: string;
  /** True until release() or loss. */
  readonly held: boolean;
  /**
   * Called once if the lock is lost without release() (PostgreSQL connection died or stopped
   * answering; SQLite lock file taken over or removed). The holder must stop writing at once.
   * Registered after the loss, cb is called on the next tick.
   */
  onLost(cb: (reason: Error) => void): void;
  release(): Promise<void>;
}

export interface LeaderLockOptions {
  /** How often the holder proves it is alive (default 2000 ms). */
  heartbeatMs?: number;
  /**
   * PostgreSQL: a heartbeat query unanswered this long counts as loss. SQLite: a lock file whose
   * heartbeat is older than this may be taken over even if its pid looks alive (pid reuse, other
   * hosts). Default 30,000 ms.
   */
  staleMs?: number;
}

export interface WaitForLeaderLockOptions extends LeaderLockOptions {
  /** Delay between attempts (default 1000 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Shared loss bookkeeping for both lock kinds. */
export class LossNotifier {
  readonly #callbacks: Array<(reason: Error) => void> = [];
  #reason: Error | undefined;

  get lost(): boolean {
    return this.#reason !== undefined;
  }

  onLost(cb: (reason: Error) => void): void {
    const reason = this.#reason;
    if (reason) setImmediate(() => cb(reason));
    else this.#callbacks.push(cb);
  }

  fire(reason: Error): void {
    if (this.#reason) return;
    this.#reason = reason;
    for (const cb of this.#callbacks.splice(0)) cb(reason);
  }
}

export interface LockSettings {
  heartbeatMs: number;
  staleMs: number;
}

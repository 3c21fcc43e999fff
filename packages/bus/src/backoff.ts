/** Bounded exponential backoff: initialMs, initialMs * multiplier, ... never above maxMs. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Defaults to 2. */
  multiplier?: number;
}

export function backoffDelayMs(options: BackoffOptions, attempt: number): number {
  if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
    throw new RangeError("backoff needs 0 < initialMs <= maxMs");
  }
  const multiplier = options.multiplier ?? 2;
  const exponent = Math.max(0, Math.floor(attempt));
  return Math.min(options.maxMs, Math.round(options.initialMs * multiplier ** exponent));
}

/**
 * A sleep that can be cut short: `wake()` ends the current (and the next) sleep early, so a
 * loop never misses a wake-up that arrives while it is busy.
 */
export class Sleeper {
  #pendingWake = false;
  #wakeCurrent: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    if (this.#pendingWake) {
      this.#pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#wakeCurrent = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.#wakeCurrent = finish;
    });
  }

  wake(): void {
    if (this.#wakeCurrent) this.#wakeCurrent();
    else this.#pendingWake = true;
  }
}

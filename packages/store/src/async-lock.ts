/** A FIFO mutex: release() hands the lock straight to the next waiter, so nobody can cut in. */
export class AsyncLock {
  #locked = false;
  readonly #waiters: Array<() => void> = [];

  get idle(): boolean {
    return !this.#locked;
  }

  acquire(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }

  async with<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

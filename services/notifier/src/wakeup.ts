// A sleep that a wake() cuts short; a wake() that arrives while nobody sleeps ends the next sleep
// at once, so a loop never misses one that came while it was busy.
export class Wakeup {
  #pending = false;
  #wakeCurrent: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const finish = () => {
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
    else this.#pending = true;
  }
}

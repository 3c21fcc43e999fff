// Which transfers' committed events this process has booked, for calls waiting on them. A call
// that expects clearing to commit its transfer (PayPaymentIntent: the connector commits it)
// registers before the call that may commit it, then waits a short while for the wallet's own
// consumer of clearing's `transfer.committed` to book it: that consumer completes the movement
// in the transaction that records the event as processed, so the call needs neither a read of
// the transfer at clearing nor a commit of its own. Only a hint in memory: a call that hears
// nothing in time (another process took the event, or the bus lags) asks clearing itself.

export interface ExpectedBooking {
  /** Resolves true once the transfer's committed event was booked here, false after `timeoutMs`. */
  booked(timeoutMs: number): Promise<boolean>;
  /** Stops listening (always call it, booked or not). */
  cancel(): void;
}

interface Waiter {
  booked: boolean;
  wake?: () => void;
}

export class TransferBookings {
  readonly #waiting = new Map<string, Waiter>();

  /** Starts listening for the committed event of `transferId`. */
  expect(transferId: string): ExpectedBooking {
    const waiter: Waiter = { booked: false };
    this.#waiting.set(transferId, waiter);
    return {
      booked: (timeoutMs) => {
        if (waiter.booked) return Promise.resolve(true);
        return new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(waiter.booked), timeoutMs);
          waiter.wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
      },
      cancel: () => {
        if (this.#waiting.get(transferId) === waiter) this.#waiting.delete(transferId);
      },
    };
  }

  /** Whether any call is listening (so the consumer decodes only when it matters). */
  get listening(): boolean {
    return this.#waiting.size > 0;
  }

  /** The committed event of `transferId` was processed and its transaction committed. */
  settled(transferId: string): void {
    const waiter = this.#waiting.get(transferId);
    if (!waiter) return;
    waiter.booked = true;
    waiter.wake?.();
  }
}

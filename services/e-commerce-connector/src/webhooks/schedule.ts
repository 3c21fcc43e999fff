// When a webhook is tried again, and when it is given up: pure decisions over the configured
// schedule. Jitter only shortens a delay, so the schedule is an upper bound (24 h stays 24 h)
// and merchants that failed together do not all come back at the same instant.
import { WebhookDeliveryState } from "@clearmesh/contracts";

export interface RetryPolicy {
  /** Delay after the 1st, 2nd, … failed attempt of a round; the last one repeats. */
  backoffMs: readonly number[];
  jitterPercent: number;
  maxAttempts: number;
}

/** The delay after the `failedAttempts`-th failed attempt (1-based), jitter applied. */
export function retryDelayMs(policy: RetryPolicy, failedAttempts: number, random: () => number): number {
  if (failedAttempts < 1 || policy.backoffMs.length === 0) throw new RangeError("retryDelayMs needs a failed attempt and a schedule");
  const base = policy.backoffMs[Math.min(failedAttempts, policy.backoffMs.length) - 1]!;
  const jitter = Math.floor(base * (policy.jitterPercent / 100) * random());
  return Math.max(1, base - jitter);
}

export interface AttemptResult {
  /** HTTP status answered; 0 when no answer arrived. */
  httpStatus: number;
  /** Why it failed; empty when delivered. */
  error: string;
}

export function delivered(result: AttemptResult): boolean {
  return result.error === "" && result.httpStatus >= 200 && result.httpStatus < 300;
}

/** The delivery's state after an attempt, and when the next attempt is due. */
export function stateAfterAttempt(policy: RetryPolicy, roundAttemptsBefore: number, result: AttemptResult, nowMs: number, random: () => number): { state: WebhookDeliveryState; nextAttemptAtMs: number } {
  if (delivered(result)) return { state: WebhookDeliveryState.DELIVERED, nextAttemptAtMs: 0 };
  const failedAttempts = roundAttemptsBefore + 1;
  if (failedAttempts >= policy.maxAttempts) return { state: WebhookDeliveryState.DEAD_LETTERED, nextAttemptAtMs: 0 };
  return { state: WebhookDeliveryState.PENDING, nextAttemptAtMs: nowMs + retryDelayMs(policy, failedAttempts, random) };
}

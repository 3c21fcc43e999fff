// No stuck payments: at start and every SWEEP_INTERVAL_MS, the sweeper asks clearing what
// happened to every intent left PROCESSING longer than PROCESSING_TIMEOUT_MS (committed →
// SUCCEEDED; reserved → released and FAILED, or committed when the merchant had asked to
// capture; aborted, expired or unknown → FAILED), retries the followups still owed to the bank
// or clearing, and runs refunds left PENDING once more. Each pass and each retry count is bounded.
import { PaymentIntentState, RefundState } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { claimStale, pendingFollowups, staleIntents } from "./intents/repository.js";
import type { Settlement } from "./intents/settlement.js";
import { claimRefund, staleRefunds, type RefundService } from "./refunds/service.js";

/** Rows one pass looks at, per kind; the next pass takes the rest. */
export const SWEEP_BATCH = 100;
/** Tries of a followup or a refund before it is left to an operator (logged as an error). */
export const MAX_SWEEP_ATTEMPTS = 20;

export interface SweeperDeps {
  store: Store;
  settlement: Settlement;
  refunds: RefundService;
  processingTimeoutMs: number;
  intervalMs: number;
  now: () => number;
  logger: Logger;
}

export interface Sweeper {
  /** One pass; resolves when it is done (tests and start-up use it). */
  sweep(): Promise<void>;
  stop(): Promise<void>;
}

export function startSweeper(deps: SweeperDeps): Sweeper {
  let pass: Promise<void> = Promise.resolve();
  let stopped = false;

  async function sweepOnce(): Promise<void> {
    const cutoffMs = deps.now() - deps.processingTimeoutMs;
    for (const intent of await staleIntents(deps.store, PaymentIntentState.PROCESSING, cutoffMs, SWEEP_BATCH)) {
      if (stopped) return;
      if (!(await claimStale(deps.store, intent, deps.now()))) continue;
      const settled = await deps.settlement.settleStale(intent);
      deps.logger.info({ paymentIntentId: intent.paymentIntentId, state: PaymentIntentState[settled.state] }, "sweeper settled a processing intent");
    }
    for (const intent of await pendingFollowups(deps.store, MAX_SWEEP_ATTEMPTS, SWEEP_BATCH)) {
      if (stopped) return;
      await deps.settlement.runFollowup(intent);
      if (intent.followupAttempts + 1 >= MAX_SWEEP_ATTEMPTS) deps.logger.error({ paymentIntentId: intent.paymentIntentId, followup: intent.followup }, "followup still failing; left to an operator");
    }
    for (const refund of await staleRefunds(deps.store, cutoffMs, MAX_SWEEP_ATTEMPTS, SWEEP_BATCH)) {
      if (stopped) return;
      if (!(await claimRefund(deps.store, refund, deps.now()))) continue;
      const resumed = await deps.refunds.resume({ ...refund, attempts: refund.attempts + 1 });
      if (resumed.state === RefundState.PENDING && refund.attempts + 1 >= MAX_SWEEP_ATTEMPTS) deps.logger.error({ refundId: refund.refundId }, "refund still pending; left to an operator");
    }
  }

  /** Passes never overlap; a failed pass is logged and the next one tries again. */
  const sweep = () => {
    pass = pass.then(() => (stopped ? undefined : sweepOnce())).catch((error: Error) => deps.logger.warn({ err: error.message }, "sweep failed; will retry"));
    return pass;
  };

  void sweep();
  const timer = setInterval(() => void sweep(), deps.intervalMs);
  timer.unref();
  return {
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await pass;
    },
  };
}

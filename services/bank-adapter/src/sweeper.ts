// The sweeper settles what an unanswered clearing call left open, so no hold stays forever and no
// money is lost: PENDING pulls and PREPARING authorizations untouched for SWEEP_STALE_MS, and
// AUTHORIZED ones past their expiry (normally ended by the transfer.expired event; this is the
// safety net). Each is resolved by asking clearing (pulls/service.ts, cards/authorizations.ts);
// every booking is conditional, so several instances may sweep at once.
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { AuthorizationService } from "./cards/authorizations.js";
import { authorizationsToResolve } from "./cards/repository.js";
import type { PullService } from "./pulls/service.js";
import { pendingPulls } from "./pulls/repository.js";

export const SWEEP_INTERVAL_MS = 2_000;
/** How long an open item is left to its own call (and to events) before the sweeper asks clearing. */
export const SWEEP_STALE_MS = 5_000;
/** Items one sweep looks at, per kind. */
export const SWEEP_BATCH = 100;

export interface SweeperDeps {
  store: Store;
  pulls: PullService;
  authorizations: AuthorizationService;
  now: () => number;
  logger: Logger;
}

/** One sweep; returns how many items it looked at. */
export async function sweepOnce(deps: SweeperDeps): Promise<number> {
  const nowMs = deps.now();
  const pulls = await pendingPulls(deps.store, nowMs - SWEEP_STALE_MS, SWEEP_BATCH);
  for (const pull of pulls) await deps.pulls.resolve(pull);
  const authorizations = await authorizationsToResolve(deps.store, nowMs - SWEEP_STALE_MS, nowMs, SWEEP_BATCH);
  for (const authorization of authorizations) await deps.authorizations.resolve(authorization);
  return pulls.length + authorizations.length;
}

export function startSweeper(deps: SweeperDeps): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    // One sweep at a time: a slow clearing must not pile sweeps up.
    if (running) return;
    running = sweepOnce(deps)
      .then((looked) => { if (looked > 0) deps.logger.info({ looked }, "sweeper looked at open pulls and authorizations"); })
      .catch((error: Error) => deps.logger.warn({ err: error.message }, "sweep failed; will retry"))
      .finally(() => { running = undefined; });
  }, SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

// Registers each new user's aliases (e-mail and phone) at clearing with RegisterParty, signed as
// the user's provider, so other providers can pay them. Asynchronous and retried: registration
// writes one alias_registrations row per alias in the user's transaction; this loop takes due
// rows (claimed by a conditional update, so several processes never work on the same row), and
// ends each as `registered`, `taken` (another participant holds the alias: payments to it go
// there) or `refused` (another definite refusal), or tries again later with a growing delay
// when clearing does not answer. An erased user's rows are deleted with the user.
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import type { ClearingGateway } from "../payments/clearing.js";
import { openPersonal } from "../users/personal.js";
import { findUser, loadUserKey } from "../users/repository.js";
import { maskAlias } from "../validation.js";

/** Rows handled per round. */
export const ALIAS_BATCH = 20;
const RETRY_INITIAL_MS = 1_000;
const RETRY_MAX_MS = 5 * 60_000;

export interface AliasRegistrarDeps {
  store: Store;
  dataKeys: DataKeyRing;
  clearing: ClearingGateway;
  intervalMs: number;
  now: () => number;
  logger: Logger;
}

export function startAliasRegistrar(deps: AliasRegistrarDeps): { wake(): void; runOnce(): Promise<number>; stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<number> | undefined;
  let again = false;

  async function runOnce(): Promise<number> {
    const nowMs = deps.now();
    const due = await deps.store.query<{ user_id: string; kind: "email" | "phone"; attempts: bigint; next_attempt_at_ms: bigint }>(
      "SELECT user_id, kind, attempts, next_attempt_at_ms FROM alias_registrations WHERE state = 'pending' AND next_attempt_at_ms <= $1 ORDER BY next_attempt_at_ms LIMIT $2",
      [BigInt(nowMs), BigInt(ALIAS_BATCH)],
    );
    let done = 0;
    for (const row of due) {
      if (stopped) break;
      const delayMs = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** Math.min(20, Number(row.attempts)));
      const { changes } = await deps.store.execute(
        "UPDATE alias_registrations SET attempts = attempts + 1, next_attempt_at_ms = $4 WHERE user_id = $1 AND kind = $2 AND state = 'pending' AND next_attempt_at_ms = $3",
        [row.user_id, row.kind, row.next_attempt_at_ms, BigInt(nowMs + delayMs)],
      );
      if (changes === 1 && (await register(row.user_id, row.kind))) done += 1;
    }
    return done;
  }

  async function register(userId: string, kind: "email" | "phone"): Promise<boolean> {
    const user = await findUser(deps.store, userId);
    const key = await loadUserKey(deps.store, deps.dataKeys, userId);
    const sealed = kind === "email" ? user?.email_sealed : user?.phone_sealed;
    if (!user || user.status !== "active" || !key || !sealed) return finish(userId, kind, "refused", "the user is gone");
    const alias = openPersonal(key, sealed);
    const outcome = await deps.clearing.registerParty(user.provider_id, alias);
    if (outcome.kind === "unknown") {
      deps.logger.warn({ userId, kind, problem: outcome.problem }, "alias registration at clearing got no answer; will retry");
      return false;
    }
    if (outcome.kind === "ok") return finish(userId, kind, "registered", "");
    if (outcome.reason === "PARTY_TAKEN") {
      deps.logger.warn({ userId, alias: maskAlias(alias), providerId: user.provider_id }, "alias held by another participant at clearing");
      return finish(userId, kind, "taken", outcome.reason);
    }
    return finish(userId, kind, "refused", `${outcome.reason}: ${outcome.message}`.slice(0, 300));
  }

  async function finish(userId: string, kind: string, state: string, error: string): Promise<boolean> {
    await deps.store.execute("UPDATE alias_registrations SET state = $3, last_error = $4 WHERE user_id = $1 AND kind = $2 AND state = 'pending'", [userId, kind, state, error]);
    return state === "registered";
  }

  const tick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = runOnce()
      .catch((error: Error) => {
        deps.logger.warn({ err: error.message }, "alias registration round failed; will retry");
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          tick();
        }
      });
  };
  const timer = setInterval(tick, deps.intervalMs);

  return {
    wake: tick,
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

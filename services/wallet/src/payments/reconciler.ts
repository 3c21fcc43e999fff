// No money in limbo: every pending outgoing movement (a hold whose clearing transfer's outcome
// the wallet has not learnt) older than HOLD_TIMEOUT_MS is settled by asking clearing:
// - COMMITTED → the hold becomes a debit;
// - ABORTED or EXPIRED → the hold is released;
// - RESERVED (a prepared transfer) → aborted at clearing, then released;
// - unknown to clearing → the id is first made unusable, so a request still on its way can never
//   move money after the release: the wallet prepares a transfer under the same id (which a late
//   CreateTransfer then meets as IDEMPOTENCY_CONFLICT), hash-locked with a condition whose
//   fulfilment nobody knows (so the payee cannot commit it), releases the hold, and aborts the
//   placeholder (or lets it expire). If clearing refuses that prepare for a business reason the id
//   is refused for good, which does as well.
// - no answer → asked again next round.
// A pending top-up is asked of the bank instead (the same PullFunds again); a pending payment of
// a payment intent first of the connector: while the intent waits for a manual capture (or the
// connector is finishing its own commit) the hold stays, bounded by the transfer's expiry.
// Several processes may run it on one store: each movement is claimed by a conditional update
// that moves its next check forward, so only one process works on it at a time.
import { createHash, randomBytes } from "node:crypto";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { TransferState, type Transfer } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { Notifier } from "../notifications/notify.js";
import type { ClearingGateway, Outcome } from "./clearing.js";
import { completeOutgoing, failOutgoing, findMovement, type MovementRow } from "./movements.js";

/** Movements settled per round; the rest wait for the next. */
export const RECONCILE_BATCH = 50;
/** Expiry of the prepare that retires an unknown transfer id; it is aborted at once anyway. */
const TOMBSTONE_EXPIRY_MS = 60_000;

export interface ReconcilerDeps {
  store: Store;
  clearing: ClearingGateway;
  notifier: Notifier;
  holdTimeoutMs: number;
  intervalMs: number;
  now: () => number;
  logger: Logger;
  wake: () => void;
  /** A pending top-up is settled by the bank's answer to the same pull (bank.ts). */
  resolveTopUp?: (movement: MovementRow) => Promise<void>;
  /** Whether the connector still legitimately holds a pending payment (intents.ts). */
  paymentStillDeciding?: (movement: MovementRow) => Promise<boolean>;
}

type Verdict =
  | { kind: "committed"; feeMinor: bigint; committedMinor: bigint }
  | { kind: "released"; reason: string; message: string; abortPlaceholder?: boolean }
  | { kind: "retry"; problem: string };

export function startReconciler(deps: ReconcilerDeps): { runOnce(): Promise<number>; stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<number> | undefined;

  async function runOnce(): Promise<number> {
    const nowMs = deps.now();
    const due = await deps.store.query<{ movement_id: string; next_check_at_ms: bigint }>(
      "SELECT movement_id, next_check_at_ms FROM movements WHERE state = 'pending' AND transfer_id IS NOT NULL AND next_check_at_ms <= $1 ORDER BY next_check_at_ms LIMIT $2",
      [BigInt(nowMs), BigInt(RECONCILE_BATCH)],
    );
    let settled = 0;
    for (const row of due) {
      if (stopped) break;
      const { changes } = await deps.store.execute(
        "UPDATE movements SET next_check_at_ms = $3 WHERE movement_id = $1 AND state = 'pending' AND next_check_at_ms = $2",
        [row.movement_id, row.next_check_at_ms, BigInt(nowMs + deps.holdTimeoutMs)],
      );
      if (changes !== 1) continue;
      const movement = await findMovement(deps.store, row.movement_id);
      if (!movement || movement.state !== "pending") continue;
      if (await settle(movement)) settled += 1;
    }
    return settled;
  }

  async function settle(movement: MovementRow): Promise<boolean> {
    if (movement.kind === "top_up") {
      await deps.resolveTopUp?.(movement);
      return (await findMovement(deps.store, movement.movement_id))?.state !== "pending";
    }
    if (movement.kind === "payment" && (await deps.paymentStillDeciding?.(movement))) return false;
    const verdict = await verdictOf(deps.clearing, movement, deps.now());
    if (verdict.kind === "retry") {
      deps.logger.warn({ movementId: movement.movement_id, transferId: movement.transfer_id, problem: verdict.problem }, "pending payment not settled yet; will ask again");
      return false;
    }
    const changed = await deps.store.transaction(async (tx) => {
      const current = await findMovement(tx, movement.movement_id);
      if (!current) return false;
      return verdict.kind === "committed"
        ? completeOutgoing(tx, deps.notifier, current, { feeMinor: verdict.feeMinor, committedMinor: verdict.committedMinor }, {}, deps.now())
        : failOutgoing(tx, deps.notifier, current, verdict.reason, verdict.message, deps.now());
    });
    deps.wake();
    if (verdict.kind === "released" && verdict.abortPlaceholder) {
      const aborted = await deps.clearing.abortTransfer(movement.provider_id, { transferId: movement.transfer_id!, reason: "wallet reconciler: placeholder for a transfer clearing never received" });
      if (aborted.kind !== "ok") deps.logger.warn({ transferId: movement.transfer_id }, "placeholder transfer not aborted; it expires by itself");
    }
    if (changed) deps.logger.info({ movementId: movement.movement_id, transferId: movement.transfer_id, outcome: verdict.kind }, "reconciler settled a pending payment");
    return changed;
  }

  const timer = setInterval(() => {
    if (running || stopped) return;
    running = runOnce()
      .catch((error: Error) => {
        deps.logger.warn({ err: error.message }, "reconciler round failed; will retry");
        return 0;
      })
      .finally(() => { running = undefined; });
  }, deps.intervalMs);

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** What clearing says became of the movement's transfer, after retiring an unknown id. */
export async function verdictOf(clearing: ClearingGateway, movement: MovementRow, nowMs: number): Promise<Verdict> {
  const providerId = movement.provider_id;
  const transferId = movement.transfer_id!;
  const outcome: Outcome<Transfer> = await clearing.getTransfer(providerId, transferId);
  if (outcome.kind === "refused" && outcome.reason === "TRANSFER_NOT_FOUND") {
    const placeholder = await clearing.prepareTransfer(providerId, {
      transferId, payerId: providerId, payeeId: movement.counterparty_provider_id, amount: { currency: movement.currency, amountMinor: movement.amount_minor },
      payerReference: movement.movement_id, payeeReference: "", expiresAt: timestampFromMs(nowMs + TOMBSTONE_EXPIRY_MS),
      condition: createHash("sha256").update(randomBytes(32)).digest(),
    });
    // The original request got there first after all: its transfer decides.
    if (placeholder.kind === "refused" && placeholder.reason === "IDEMPOTENCY_CONFLICT") return { kind: "retry", problem: "the transfer appeared at clearing; asking again" };
    if (placeholder.kind === "unknown") return { kind: "retry", problem: placeholder.problem };
    return { kind: "released", reason: "TRANSFER_NOT_FOUND", message: "clearing never received the transfer", abortPlaceholder: placeholder.kind === "ok" };
  }
  if (outcome.kind === "unknown") return { kind: "retry", problem: outcome.problem };
  if (outcome.kind === "refused") return { kind: "retry", problem: `${outcome.reason}: ${outcome.message}` };
  return verdictOfTransfer(clearing, providerId, outcome.value);
}

async function verdictOfTransfer(clearing: ClearingGateway, providerId: string, transfer: Transfer): Promise<Verdict> {
  switch (transfer.state) {
    case TransferState.COMMITTED:
      return { kind: "committed", feeMinor: transfer.fee?.amountMinor ?? 0n, committedMinor: transfer.amount?.amountMinor ?? 0n };
    case TransferState.ABORTED:
      return { kind: "released", reason: "TRANSFER_ABORTED", message: "the transfer was aborted" };
    case TransferState.EXPIRED:
      return { kind: "released", reason: "TRANSFER_EXPIRED", message: "the transfer expired before it was committed" };
    case TransferState.RESERVED: {
      const aborted = await clearing.abortTransfer(providerId, { transferId: transfer.transferId, reason: "wallet reconciler: hold timed out" });
      if (aborted.kind !== "ok") return { kind: "retry", problem: aborted.kind === "refused" ? aborted.reason : aborted.problem };
      return verdictOfTransfer(clearing, providerId, aborted.value);
    }
    default:
      return { kind: "retry", problem: `transfer in state ${transfer.state}` };
  }
}

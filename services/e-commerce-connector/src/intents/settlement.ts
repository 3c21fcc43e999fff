// Finishing a payment that reached clearing, shared by the calls and the sweeper: commit as the
// acquirer, record the capture at the card's bank, fail and release. Every step is written
// before the external call that depends on it, and what is still owed afterwards (a bank
// capture, a void, an abort) is persisted as a followup that the sweeper retries.
import { PaymentIntentState, TransferState, type Transfer } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { classifyUpstream, type CardGateway, type ClearingGateway } from "../gateways.js";
import type { IntentChangeWriter } from "./changes.js";
import { money, type Followup, type IntentRecord } from "./model.js";
import { findIntent, settleFollowup } from "./repository.js";

const { PROCESSING, SUCCEEDED, FAILED } = PaymentIntentState;

export interface SettlementDeps {
  store: Store;
  changes: IntentChangeWriter;
  clearing: ClearingGateway;
  cards: CardGateway;
  logger: Logger;
}

export type Settlement = ReturnType<typeof createSettlement>;

export function createSettlement(deps: SettlementDeps) {
  const { clearing, cards, changes, logger } = deps;
  const isCard = (intent: IntentRecord) => intent.paymentMethodType === "card";
  /** The release a failed or canceled intent still owes: a card's void, or a wallet transfer's abort. */
  const releaseOf = (intent: IntentRecord): Followup => (isCard(intent) ? "bank_void" : "clearing_abort");
  const current = async (intent: IntentRecord) => (await findIntent(deps.store, intent.paymentIntentId)) ?? intent;

  /** Commits the intent's transfer (all of it or `amountMinor`) and finishes it; PROCESSING stays when clearing does not answer. */
  async function commitAndFinish(intent: IntentRecord, amountMinor: bigint): Promise<IntentRecord> {
    let transfer: Transfer;
    try {
      transfer = await clearing.commitTransfer(intent.acquirerId, intent.transferId, money(intent.currency, amountMinor));
    } catch (error) {
      const failure = classifyUpstream(error);
      if (failure.kind === "unknown") {
        logger.warn({ paymentIntentId: intent.paymentIntentId, err: failure.message }, "commit unanswered; the sweeper will settle the intent");
        return intent;
      }
      return fail(intent, `clearing refused the commit (${failure.reason})`, isCard(intent) ? "bank_void" : "");
    }
    return finishCaptured(intent, transfer);
  }

  /** The transfer is committed, so the intent is paid; a card's bank records the capture now or later. */
  async function finishCaptured(intent: IntentRecord, transfer: Transfer): Promise<IntentRecord> {
    const capturedMinor = transfer.amount?.amountMinor ?? 0n;
    if (transfer.state !== TransferState.COMMITTED || capturedMinor <= 0n || capturedMinor > intent.amountMinor) {
      throw new Error(`finishCaptured with transfer ${transfer.transferId} in state ${transfer.state} for ${capturedMinor}`);
    }
    const captured = { ...intent, capturedMinor };
    const followup: Followup = isCard(intent) && !(await bankCapture(captured)) ? "bank_capture" : "";
    const succeeded = await changes.transition(intent.paymentIntentId, PROCESSING, SUCCEEDED, { capturedMinor, step: "", followup, followupAttempts: 0 });
    return succeeded ?? current(intent);
  }

  /** PROCESSING → FAILED with the reason; then performs the release it owes, if any. */
  async function fail(intent: IntentRecord, reason: string, followup: Followup): Promise<IntentRecord> {
    const failed = await changes.transition(intent.paymentIntentId, PROCESSING, FAILED, { failureReason: reason, step: "", followup, followupAttempts: 0 });
    if (!failed) return current(intent);
    if (failed.followup !== "") await runFollowup(failed);
    return failed;
  }

  async function bankCapture(intent: IntentRecord): Promise<boolean> {
    try {
      await cards.capture(intent.acquirerId, intent.transferId, money(intent.currency, intent.capturedMinor));
      return true;
    } catch (error) {
      logger.warn({ paymentIntentId: intent.paymentIntentId, err: classifyUpstream(error).message }, "bank capture failed; the sweeper retries it");
      return false;
    }
  }

  /** Voids at the bank; if the bank has nothing to void, makes sure clearing holds no reservation. */
  async function releaseCard(intent: IntentRecord): Promise<boolean> {
    try {
      await cards.void(intent.acquirerId, intent.transferId);
      return true;
    } catch (error) {
      return classifyUpstream(error).kind === "refused" ? abortAtClearing(intent) : false;
    }
  }

  async function abortAtClearing(intent: IntentRecord): Promise<boolean> {
    try {
      await clearing.abortTransfer(intent.acquirerId, intent.transferId, `payment intent ${intent.paymentIntentId} ${intent.state === FAILED ? "failed" : "canceled"}`);
      return true;
    } catch (error) {
      const failure = classifyUpstream(error);
      if (failure.kind === "unknown") return false;
      // Expired or already aborted: nothing is reserved any more. Committed cannot happen (only a
      // PROCESSING intent is ever committed), so it is logged loudly rather than hidden.
      if (failure.reason === "TRANSFER_COMMITTED") logger.error({ paymentIntentId: intent.paymentIntentId, transferId: intent.transferId }, "released intent's transfer is committed");
      return true;
    }
  }

  async function runFollowup(intent: IntentRecord): Promise<void> {
    const work: Record<Followup, () => Promise<boolean>> = {
      "": async () => true,
      bank_capture: () => bankCapture(intent),
      bank_void: () => releaseCard(intent),
      clearing_abort: () => abortAtClearing(intent),
    };
    const done = await work[intent.followup]();
    await settleFollowup(deps.store, intent.paymentIntentId, intent.followup, done);
  }

  /** The sweeper's question to clearing about an intent left PROCESSING, and what follows from the answer. */
  async function settleStale(intent: IntentRecord): Promise<IntentRecord> {
    if (intent.transferId === "") return fail(intent, "no payment reached clearing", "");
    let transfer: Transfer;
    try {
      transfer = await clearing.getTransfer(intent.acquirerId, intent.transferId);
    } catch (error) {
      const failure = classifyUpstream(error);
      if (failure.kind === "unknown") return intent;
      return fail(intent, "the payment never reached clearing", isCard(intent) ? "bank_void" : "");
    }
    if (transfer.state === TransferState.COMMITTED) return finishCaptured(intent, transfer);
    if (transfer.state === TransferState.RESERVED) {
      // A capture the merchant asked for is finished as asked; a confirm left half-way is released.
      if (intent.step === "capture") return commitAndFinish(intent, intent.captureMinor);
      return fail(intent, "the payment did not finish in time; its reservation was released", releaseOf(intent));
    }
    return fail(intent, `the clearing transfer was ${TransferState[transfer.state]?.toLowerCase() ?? "not committed"}`, isCard(intent) ? "bank_void" : "");
  }

  return { commitAndFinish, finishCaptured, fail, runFollowup, settleStale, releaseOf };
}

// Pulls under a mandate: the account is debited and the bank pays the payee through clearing.
//
// The order of effects keeps money from being lost or paid twice:
// 1. One transaction: the pull is recorded PENDING, the mandate's daily usage reserved and the
//    amount held on the account (conditional updates; any refusal rolls all of it back, so a
//    refused pull changes nothing).
// 2. CreateTransfer at clearing, signed by the bank (transfer_id = pull_id).
// 3. One transaction: on COMMITTED the hold becomes a debit (COMPLETED); on a definite refusal the
//    hold and the usage are released (FAILED, with clearing's reason). On no answer (timeout,
//    clearing away) nothing changes: the hold stays, the caller gets CLEARING_UNAVAILABLE, and the
//    pull is resolved later by a repeat of PullFunds or by the sweeper: GetTransfer, and when
//    clearing has no such transfer, the same CreateTransfer again (idempotent at clearing: it
//    either answers what it did or does it now, while the money is still held).
// The transfer.committed consumer completes a PENDING pull too (same conditional step).
import { create } from "@bufbuild/protobuf";
import { PullSchema, PullState, TransferState, type Pull, type PullFundsRequest, type Transfer } from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import { UniqueViolationError, type Store, type Transaction } from "@clearmesh/store";
import { debitHeld, findAccount, placeHold, releaseHold } from "../accounts/repository.js";
import { clearingUnavailable, type ClearingGateway, type ClearingOutcome } from "../clearing.js";
import { BankError } from "../errors.js";
import { requireSameRequest } from "../idempotency.js";
import { mandateTokenHash } from "../mandates/codes.js";
import { findMandateByTokenHash, releaseDailyUsage, reserveDailyUsage } from "../mandates/repository.js";
import { isoDate } from "../statements/model.js";
import { MAX_REFERENCE_CHARS, requireId, requirePositiveMoney, requireText } from "../validation.js";
import { findPull, finishPull, insertPull, touchPull, type PullRow } from "./repository.js";

const MAX_TOKEN_CHARS = 128;

export interface PullServiceDeps {
  store: Store;
  clearing: ClearingGateway;
  now: () => number;
  logger: Logger;
}

export type PullService = ReturnType<typeof createPullService>;

export function createPullService(deps: PullServiceDeps) {
  async function pull(request: PullFundsRequest, caller: Caller): Promise<Pull> {
    requireId("pull_id", request.pullId);
    requireText("mandate_token", request.mandateToken, MAX_TOKEN_CHARS, true);
    const amount = requirePositiveMoney("amount", request.amount);
    requireText("payee_reference", request.payeeReference, MAX_REFERENCE_CHARS);
    const mandate = await findMandateByTokenHash(deps.store, mandateTokenHash(request.mandateToken));
    if (!mandate) throw new BankError("MANDATE_NOT_FOUND", "no mandate has this token", { field: "mandate_token" });
    if (caller.participantId !== mandate.payeeId) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not pull under this mandate`);
    const existing = await findPull(deps.store, request.pullId);
    if (existing) return repeat(existing, mandate.mandateId, amount.currency, amount.amountMinor, request.payeeReference);
    if (mandate.state !== "ACTIVE") throw new BankError("MANDATE_NOT_ACTIVE", `the mandate is ${mandate.state}`, { field: "mandate_token" });
    if (amount.currency !== mandate.currency) throw new BankError("CURRENCY_MISMATCH", `the mandate is in ${mandate.currency}`, { field: "amount.currency" });
    if (amount.amountMinor > mandate.perTransferLimitMinor) {
      throw new BankError("MANDATE_LIMIT_EXCEEDED", `a pull may take at most ${mandate.perTransferLimitMinor} under this mandate`, { field: "amount.amount_minor", limit: "per_transfer" });
    }
    const account = (await findAccount(deps.store, mandate.accountId))!;
    const nowMs = deps.now();
    const row: PullRow = {
      pullId: request.pullId, mandateId: mandate.mandateId, accountId: account.accountId, bankId: account.bankId, payeeId: mandate.payeeId,
      currency: amount.currency, amountMinor: amount.amountMinor, payeeReference: request.payeeReference, usageDay: isoDate(nowMs),
      state: "PENDING", heldMinor: amount.amountMinor, failureReason: "", createdAtMs: nowMs, updatedAtMs: nowMs,
    };
    try {
      await deps.store.transaction(async (tx) => {
        await insertPull(tx, row);
        if (!(await reserveDailyUsage(tx, mandate.mandateId, row.usageDay, amount.amountMinor, mandate.dailyLimitMinor))) {
          throw new BankError("MANDATE_LIMIT_EXCEEDED", `the pulls of ${row.usageDay} would exceed the daily limit of ${mandate.dailyLimitMinor}`, { field: "amount.amount_minor", limit: "daily" });
        }
        if (!(await placeHold(tx, account.accountId, amount.amountMinor))) {
          throw new BankError("INSUFFICIENT_FUNDS", "the account's free balance does not cover the pull", { field: "amount.amount_minor" });
        }
      });
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await findPull(deps.store, request.pullId);
      if (!raced) throw error;
      return repeat(raced, mandate.mandateId, amount.currency, amount.amountMinor, request.payeeReference);
    }
    deps.logger.info({ pullId: row.pullId, mandateId: row.mandateId, amountMinor: String(row.amountMinor) }, "pull held; paying at clearing");
    return settle(row, await deps.clearing.createTransfer(row.bankId, transferRequest(row)));
  }

  async function repeat(existing: PullRow, mandateId: string, currency: string, amountMinor: bigint, payeeReference: string): Promise<Pull> {
    requireSameRequest("pull_id", existing.pullId, [
      ["mandate_token", existing.mandateId, mandateId], ["amount.currency", existing.currency, currency],
      ["amount.amount_minor", existing.amountMinor, amountMinor], ["payee_reference", existing.payeeReference, payeeReference],
    ]);
    if (existing.state !== "PENDING") return pullMessage(existing);
    const resolved = await resolve(existing);
    if (resolved.state === "PENDING") throw clearingUnavailable("the pull is held; repeat it with the same pull_id");
    return pullMessage(resolved);
  }

  /** Acts on clearing's answer to the CreateTransfer of a PENDING pull. */
  async function settle(row: PullRow, outcome: ClearingOutcome): Promise<Pull> {
    if (outcome.kind === "unknown") {
      deps.logger.warn({ pullId: row.pullId, problem: outcome.problem }, "clearing did not answer; the pull stays held");
      throw clearingUnavailable("the pull is held; repeat it with the same pull_id");
    }
    if (outcome.kind === "refused") {
      await deps.store.transaction((tx) => applyPullRefused(tx, row, outcome.reason, deps.now()));
      deps.logger.info({ pullId: row.pullId, reason: outcome.reason }, "clearing refused the pull; hold released");
      return pullMessage((await findPull(deps.store, row.pullId))!);
    }
    if (outcome.transfer.state !== TransferState.COMMITTED) throw new Error(`clearing answered CreateTransfer ${row.pullId} with state ${outcome.transfer.state}`);
    await deps.store.transaction((tx) => applyPullCommitted(tx, row, outcome.transfer, deps.now(), deps.logger));
    return pullMessage((await findPull(deps.store, row.pullId))!);
  }

  /**
   * Finds out what happened to a PENDING pull at clearing and books it: GetTransfer, and when
   * clearing has no such transfer, the same CreateTransfer again. Stays PENDING while clearing
   * is silent.
   */
  async function resolve(row: PullRow): Promise<PullRow> {
    const known = await deps.clearing.getTransfer(row.bankId, row.pullId);
    let outcome: ClearingOutcome | undefined;
    if (known.kind === "ok") outcome = known;
    else if (known.kind === "refused" && known.reason === "TRANSFER_NOT_FOUND") outcome = await deps.clearing.createTransfer(row.bankId, transferRequest(row));
    if (outcome === undefined || outcome.kind === "unknown") {
      await touchPull(deps.store, row.pullId, deps.now());
      return row;
    }
    await settle(row, outcome);
    return (await findPull(deps.store, row.pullId))!;
  }

  return { pull, resolve };
}

/** The clearing transfer of a pull: the same bytes every time, so clearing's idempotency holds. */
function transferRequest(row: PullRow) {
  return {
    transferId: row.pullId, payerId: row.bankId, payeeId: row.payeeId, amount: { currency: row.currency, amountMinor: row.amountMinor },
    payerReference: row.accountId, payeeReference: row.payeeReference,
  };
}

/** PENDING → COMPLETED: the hold becomes the debit. Shared by the RPC, the sweeper and the consumer. */
export async function applyPullCommitted(tx: Transaction, row: PullRow, transfer: Transfer, nowMs: number, logger: Logger): Promise<boolean> {
  if (transfer.amount?.amountMinor !== row.amountMinor || transfer.amount.currency !== row.currency) {
    logger.error({ pullId: row.pullId }, "clearing committed a pull with another amount; not booked");
    return false;
  }
  if (!(await finishPull(tx, row.pullId, "COMPLETED", "", nowMs))) return false;
  await debitHeld(tx, {
    accountId: row.accountId, postingKey: `debit:${row.pullId}`, kind: "MANDATE_PULL", amountMinor: row.amountMinor, endToEndId: row.pullId, nowMs,
  }, row.heldMinor);
  logger.info({ pullId: row.pullId, accountId: row.accountId, amountMinor: String(row.amountMinor) }, "pull completed; account debited");
  return true;
}

/** PENDING → FAILED: the hold and the day's usage are given back. */
async function applyPullRefused(tx: Transaction, row: PullRow, reason: string, nowMs: number): Promise<void> {
  if (!(await finishPull(tx, row.pullId, "FAILED", reason, nowMs))) return;
  await releaseHold(tx, row.accountId, row.heldMinor);
  await releaseDailyUsage(tx, row.mandateId, row.usageDay, row.amountMinor);
}

export function pullMessage(row: PullRow): Pull {
  const state = row.state === "COMPLETED" ? PullState.COMPLETED : row.state === "FAILED" ? PullState.FAILED : PullState.UNSPECIFIED;
  return create(PullSchema, {
    pullId: row.pullId, mandateId: row.mandateId, amount: { currency: row.currency, amountMinor: row.amountMinor }, transferId: row.pullId,
    state, failureReason: row.failureReason,
  });
}

// The bank's view of clearing's transfers, from three durable consumers on CLEARMESH_CLEARING
// (one filter subject each: Debian's nats-server 2.9 takes one per consumer):
//
// - `bank-adapter-transfer-committed` (clearmesh.clearing.transfer.committed):
//   payer = a hosted bank: the capture of an open authorization with that transfer id, or the
//     completion of a PENDING pull (safety nets for the RPC paths; the same conditional steps);
//   payee = a hosted bank: money in. payee_reference names an account of that bank in the
//     received currency → credit what the bank received (amount − fee); names an authorization
//     of that bank whose acquirer paid → a refund (within the captured amount); anything else →
//     a suspense posting (the money is kept, the reference logged masked, for operations to
//     return or book by hand).
// - `bank-adapter-transfer-aborted` / `-expired`: an open authorization is VOIDED / EXPIRED and
//   its hold released.
//
// Exactly once: processed_events per event id (the consumer), then per transfer id: conditional
// state changes and unique posting keys (`credit:<transfer id>`, `debit:<transfer id>`) and the
// suspense table's primary key, so the same transfer delivered under another event id changes
// nothing the second time.
import type { StartConsumerOptions, VerifiedEvent } from "@clearmesh/bus";
import { decodePayload } from "@clearmesh/bus";
import {
  TransferAbortedSchema, TransferCommittedSchema, TransferExpiredSchema, TransferState, type Transfer,
} from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Transaction } from "@clearmesh/store";
import { maskAccountNumber } from "@clearmesh/trust";
import { bookSuspense, credit, findAccount } from "../accounts/repository.js";
import { applyCapture, applyEnded, applyRefund } from "../cards/authorizations.js";
import { findAuthorization } from "../cards/repository.js";
import { clearingConsumerOptions, startClearingConsumers, type ClearingConsumerDeps, type RunningConsumers } from "../consumers.js";
import { applyPullCommitted } from "../pulls/service.js";
import { findPull } from "../pulls/repository.js";
import { ID_PATTERN } from "../validation.js";

export const TRANSFER_SUBJECTS = {
  committed: "clearmesh.clearing.transfer.committed",
  aborted: "clearmesh.clearing.transfer.aborted",
  expired: "clearmesh.clearing.transfer.expired",
} as const;

const STREAM = "CLEARMESH_CLEARING";
export const TRANSFER_CONSUMERS = {
  committed: { stream: STREAM, durable: "bank-adapter-transfer-committed", filterSubject: TRANSFER_SUBJECTS.committed },
  aborted: { stream: STREAM, durable: "bank-adapter-transfer-aborted", filterSubject: TRANSFER_SUBJECTS.aborted },
  expired: { stream: STREAM, durable: "bank-adapter-transfer-expired", filterSubject: TRANSFER_SUBJECTS.expired },
} as const;

/** Why money sits in suspense (suspense_postings.reason). */
export const SUSPENSE_REASONS = {
  UNKNOWN_ACCOUNT: "payee_reference names no account or authorization of the bank",
  CURRENCY_MISMATCH: "the account is in another currency",
  BALANCE_OVERFLOW: "the credit would take the balance beyond int64",
  REFUND_NOT_APPLICABLE: "the authorization is not captured, or the refund exceeds what is left of the capture",
} as const;
type SuspenseReason = keyof typeof SUSPENSE_REASONS;

export interface TransferConsumerDeps extends ClearingConsumerDeps {
  hostedBanks: ReadonlySet<string>;
  now: () => number;
}

export function startTransferConsumers(deps: TransferConsumerDeps): RunningConsumers {
  const consumer = (definition: (typeof TRANSFER_CONSUMERS)[keyof typeof TRANSFER_CONSUMERS], handle: (event: VerifiedEvent, tx: Transaction) => Promise<void>): StartConsumerOptions => ({
    ...clearingConsumerOptions(deps, definition.durable), stream: definition.stream, durable: definition.durable,
    filterSubjects: [definition.filterSubject], handler: handle,
  });
  return startClearingConsumers(deps, [
    consumer(TRANSFER_CONSUMERS.committed, (event, tx) => onCommitted(deps, transferOf(event, deps.logger), tx)),
    consumer(TRANSFER_CONSUMERS.aborted, (event, tx) => onEnded(deps, transferOf(event, deps.logger), "VOIDED", tx)),
    consumer(TRANSFER_CONSUMERS.expired, (event, tx) => onEnded(deps, transferOf(event, deps.logger), "EXPIRED", tx)),
  ], "transfer consumers");
}

/** The transfer an event carries, or undefined (logged) when its payload cannot be used. */
function transferOf(event: VerifiedEvent, logger: Logger): Transfer | undefined {
  try {
    const message = event.subject === TRANSFER_SUBJECTS.committed ? decodePayload(event, TransferCommittedSchema)
      : event.subject === TRANSFER_SUBJECTS.aborted ? decodePayload(event, TransferAbortedSchema)
        : decodePayload(event, TransferExpiredSchema);
    if (message.transfer && message.transfer.transferId !== "") return message.transfer;
  } catch (error) {
    logger.error({ eventId: event.id, subject: event.subject, problem: (error as Error).message }, "skipped a transfer event whose payload cannot be read");
    return undefined;
  }
  logger.error({ eventId: event.id, subject: event.subject }, "skipped a transfer event without a transfer");
  return undefined;
}

/** A committed transfer: the payer side (captures, pulls) and the payee side (money in). */
export async function onCommitted(deps: TransferConsumerDeps, transfer: Transfer | undefined, tx: Transaction): Promise<void> {
  if (!transfer || transfer.state !== TransferState.COMMITTED) return;
  if (deps.hostedBanks.has(transfer.payerId)) await bookPayerSide(deps, transfer, tx);
  if (deps.hostedBanks.has(transfer.payeeId)) await creditIncoming(deps, transfer, tx);
}

async function bookPayerSide(deps: TransferConsumerDeps, transfer: Transfer, tx: Transaction): Promise<void> {
  const nowMs = deps.now();
  const authorization = await findAuthorization(tx, transfer.transferId);
  if (authorization && authorization.bankId === transfer.payerId) {
    await applyCapture(tx, authorization, transfer, nowMs, deps.logger);
    return;
  }
  const pull = await findPull(tx, transfer.transferId);
  if (pull && pull.bankId === transfer.payerId) await applyPullCommitted(tx, pull, transfer, nowMs, deps.logger);
}

/** Money a hosted bank received: to the account named, as a refund, or to suspense. */
async function creditIncoming(deps: TransferConsumerDeps, transfer: Transfer, tx: Transaction): Promise<void> {
  const nowMs = deps.now();
  const reference = transfer.payeeReference;
  const received = transfer.payeeAmount ?? { currency: transfer.amount?.currency ?? "", amountMinor: (transfer.amount?.amountMinor ?? 0n) - (transfer.fee?.amountMinor ?? 0n) };
  if (received.amountMinor <= 0n) return;
  const account = ID_PATTERN.test(reference) ? await findAccount(tx, reference) : undefined;
  if (account && account.bankId === transfer.payeeId) {
    if (account.currency !== received.currency) return suspend(deps, transfer, tx, "CURRENCY_MISMATCH", received);
    const outcome = await credit(tx, {
      accountId: account.accountId, postingKey: `credit:${transfer.transferId}`, kind: "INCOMING_TRANSFER", amountMinor: received.amountMinor,
      endToEndId: transfer.transferId, nowMs,
    });
    if (outcome.kind === "overflow") return suspend(deps, transfer, tx, "BALANCE_OVERFLOW", received);
    if (outcome.kind === "booked") deps.logger.info({ transferId: transfer.transferId, accountId: account.accountId, amountMinor: String(received.amountMinor) }, "incoming transfer credited");
    return;
  }
  const authorization = ID_PATTERN.test(reference) ? await findAuthorization(tx, reference) : undefined;
  if (authorization && authorization.bankId === transfer.payeeId && authorization.acquirerId === transfer.payerId && transfer.amount?.currency === authorization.currency) {
    const outcome = await applyRefund(tx, authorization, { transferId: transfer.transferId, refundId: null, amountMinor: transfer.amount.amountMinor }, nowMs, deps.logger);
    if (outcome === "above") return suspend(deps, transfer, tx, "REFUND_NOT_APPLICABLE", received);
    return;
  }
  return suspend(deps, transfer, tx, "UNKNOWN_ACCOUNT", received);
}

async function suspend(deps: TransferConsumerDeps, transfer: Transfer, tx: Transaction, reason: SuspenseReason, received: { currency: string; amountMinor: bigint }): Promise<void> {
  const maskedPayeeReference = maskAccountNumber(transfer.payeeReference);
  const booked = await bookSuspense(tx, {
    transferId: transfer.transferId, bankId: transfer.payeeId, payerId: transfer.payerId, currency: received.currency, amountMinor: received.amountMinor, reason,
    maskedPayeeReference, nowMs: deps.now(),
  });
  if (booked) {
    deps.logger.warn({ transferId: transfer.transferId, bankId: transfer.payeeId, payeeReference: maskedPayeeReference, reason, amountMinor: String(received.amountMinor) },
      "incoming money kept in suspense");
  }
}

/** An aborted or expired transfer ends the open authorization it carried; its hold is released. */
export async function onEnded(deps: TransferConsumerDeps, transfer: Transfer | undefined, state: "VOIDED" | "EXPIRED", tx: Transaction): Promise<void> {
  if (!transfer || !deps.hostedBanks.has(transfer.payerId)) return;
  const authorization = await findAuthorization(tx, transfer.transferId);
  if (authorization && authorization.bankId === transfer.payerId) await applyEnded(tx, authorization, state, deps.now(), deps.logger);
}

// Transfers through the engine: create (prepare + commit), prepare, commit (full or partial),
// abort, expiry, and reads. Validation happens before the engine; decisions inside it, in
// order; every answer after its batch is durable (PROTOCOL.md §9 for repeats).
import { ParticipantKind, TransferState, type AbortTransferRequest, type CommitTransferRequest, type CreateTransferRequest, type PrepareTransferRequest, type Transfer } from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import type { Queryable, Store } from "@clearmesh/store";
import { clearingError, invalidField } from "../errors.js";
import type { ClearingEngine } from "../engine/engine.js";
import { ExpiryQueue } from "../engine/expiry.js";
import type { Journal } from "../engine/journal.js";
import type { Ledger } from "../engine/ledger.js";
import { transferFromRow, type TransferRow } from "../engine/load.js";
import { transferMessage } from "../engine/messages.js";
import { LedgerError, type ParticipantView, type TransferFailure, type TransferPricing, type TransferRecord, type TransferTerms } from "../engine/types.js";
import { feeFor, type FeeSchedule } from "../pricing/fees.js";
import { requireId } from "../validation.js";
import { RecentMemory, type StoreRead } from "../engine/recent.js";
import { isFailure, type Decision } from "./recent.js";
import { createTerms, differingField, fulfils, prepareTerms, termsOf } from "./terms.js";

/** A quote as a transfer that cites it needs it (the quotes service provides it). */
export interface QuotedPricing extends TransferPricing {
  quoteId: string;
  payerId: string;
  payeeId: string;
  currency: string;
  amount: bigint;
  expiresAtMs: number;
}

export interface TransferServiceDeps {
  store: Store;
  engine: ClearingEngine;
  participants: ParticipantView;
  feeSchedule: FeeSchedule;
  now: () => number;
  logger: Logger;
  maxExpiryMs: number;
  expiryCheckMs: number;
  findQuote: (quoteId: string) => Promise<QuotedPricing | undefined>;
}

export type TransferService = ReturnType<typeof createTransferService>;

export function createTransferService(deps: TransferServiceDeps) {
  // Decisions a racing repeat's store read could miss (engine/recent.ts).
  const recent = new RecentMemory<Decision>(deps.engine);
  const expiries = new ExpiryQueue();
  deps.engine.onLoaded((ledger) => {
    recent.clear();
    expiries.clear();
    for (const transfer of ledger.pending.values()) if (transfer.expiresAtMs !== null) expiries.push(transfer.expiresAtMs, transfer.transferId);
  });

  /** Quotes cited by transfers decided since the last load (the store knows the older ones). */
  const usedQuotes = new Map<string, string>();
  deps.engine.onLoaded(() => usedQuotes.clear());

  const decided = (decision: Decision) => {
    const transferId = isFailure(decision) ? decision.terms.transferId : decision.transferId;
    recent.set(transferId, decision);
    deps.engine.rememberTransfer(transferId);
  };

  async function submitNew(terms: TransferTerms, caller: Caller): Promise<Transfer> {
    if (caller.participantId !== terms.payerId) {
      throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not pay for ${terms.payerId}`, { field: "payer_id" });
    }
    const read = recent.beginRead();
    try {
      const [stored, quote, quoteUser] = await Promise.all([
        // A new id (the usual case) needs no store read: the engine knows every id there is.
        deps.engine.mightKnowTransfer(terms.transferId) ? findDecision(deps.store, terms.transferId) : undefined,
        terms.quoteId ? deps.findQuote(terms.quoteId) : undefined,
        terms.quoteId ? transferCitingQuote(deps.store, terms.quoteId) : undefined,
      ]);
      return deps.engine.apply((ledger, journal) => {
        requireFresh(read);
        const prior = ledger.pending.get(terms.transferId) ?? recent.get(terms.transferId) ?? stored;
        if (prior) return answerRepeat(prior, terms);
        return decideNew(ledger, journal, terms, quote, usedQuotes.get(terms.quoteId) ?? quoteUser);
      });
    } finally {
      read.done();
    }
  }

  function decideNew(ledger: Ledger, journal: Journal, terms: TransferTerms, quote: QuotedPricing | undefined, quoteUser: string | undefined): Transfer {
    const nowMs = deps.now();
    let record: TransferRecord;
    try {
      // A quote pays for one transfer only.
      if (quoteUser !== undefined && quoteUser !== terms.transferId) {
        throw new LedgerError("QUOTE_ALREADY_USED", `quote ${terms.quoteId} was used by transfer ${quoteUser}`, "quote_id");
      }
      record = { ...terms, ...price(ledger, terms, quote, nowMs), state: TransferState.RESERVED, preparedAmount: terms.amount, windowId: "", createdAtMs: nowMs, completedAtMs: null };
      ledger.prepare(record, terms.kind !== "create");
      if (terms.quoteId) usedQuotes.set(terms.quoteId, terms.transferId);
    } catch (error) {
      if (!(error instanceof LedgerError)) throw error;
      // A refused id stays refused (PROTOCOL.md §9): the refusal is stored like a transfer.
      const failure: TransferFailure = { terms, reason: error.reason, message: error.message, field: error.field };
      journal.failure(failure);
      decided(failure);
      throw error;
    }
    if (terms.kind === "create") commitPrepared(ledger, record.transferId, { amount: record.amount, fee: record.fee, payeeAmount: record.payeeAmount }, nowMs);
    else expiries.push(record.expiresAtMs!, record.transferId);
    decided(record);
    return transferMessage(record);
  }

  /** Same-currency fee from the schedule, or the cited quote's pricing. */
  function price(ledger: Ledger, terms: TransferTerms, quote: QuotedPricing | undefined, nowMs: number): TransferPricing {
    const payer = deps.participants.get(terms.payerId);
    if (!payer) throw new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${terms.payerId}`, "payer_id");
    ledger.requireActive(terms.payerId, "payer_id");
    if (terms.quoteId) return quotedPricing(terms, quote, nowMs);
    const fee = feeFor(deps.feeSchedule, terms.currency, payer.kind as ParticipantKind, terms.amount);
    if (terms.amount - fee <= 0n) throw new LedgerError("AMOUNT_TOO_SMALL", `${terms.amount} does not cover the fee of ${fee}`, "amount.amount_minor");
    return { fee, payeeCurrency: terms.currency, payeeAmount: terms.amount - fee, fxProviderId: "", rate: "" };
  }

  function commitPrepared(ledger: Ledger, transferId: string, committed: { amount: bigint; fee: bigint; payeeAmount: bigint }, nowMs: number): TransferRecord {
    try {
      return ledger.commit(transferId, committed, nowMs);
    } catch (error) {
      // Pricing checked everything commit checks; a refusal here means memory is wrong.
      throw new Error(`commit after prepare refused: ${(error as Error).message}`);
    }
  }

  return {
    createTransfer: (request: CreateTransferRequest, caller: Caller) => submitNew(createTerms(request), caller),
    prepareTransfer: (request: PrepareTransferRequest, caller: Caller) => submitNew(prepareTerms(request, deps.now(), deps.maxExpiryMs), caller),

    async commitTransfer(request: CommitTransferRequest, caller: Caller): Promise<Transfer> {
      const transferId = requireId("transfer_id", request.transferId);
      if (request.fulfilment.length > 1024) throw invalidField("fulfilment", "must be at most 1024 bytes");
      const read = recent.beginRead();
      try {
        // Prepared and waiting in memory: whatever happens to it next is decided here, so the store has nothing to add.
        const stored = deps.engine.isPending(transferId) ? undefined : await findDecision(deps.store, transferId);
        return deps.engine.apply((ledger) => {
          requireFresh(read);
          return commitApplied(ledger, transferId, stored, request, caller);
        });
      } finally {
        read.done();
      }
    },

    async abortTransfer(request: AbortTransferRequest, caller: Caller): Promise<Transfer> {
      const transferId = requireId("transfer_id", request.transferId);
      if (request.reason.length > 200) throw invalidField("reason", "must be at most 200 characters");
      const read = recent.beginRead();
      try {
        const stored = deps.engine.isPending(transferId) ? undefined : await findDecision(deps.store, transferId);
        return deps.engine.apply((ledger) => {
          requireFresh(read);
          const pending = ledger.pending.get(transferId);
          if (!pending) return answerFinished(recent.get(transferId) ?? stored, caller, "abort", undefined);
          if (caller.participantId !== pending.payerId && caller.participantId !== pending.payeeId) {
            throw new LedgerError("PERMISSION_DENIED", "only the payer or the payee may abort", "transfer_id");
          }
          const record = ledger.abort(transferId, deps.now(), request.reason);
          decided(record);
          return transferMessage(record);
        });
      } finally {
        read.done();
      }
    },

    async getTransfer(transferId: string, caller: Caller): Promise<Transfer> {
      requireId("transfer_id", transferId);
      // Waits until every earlier change is durable, then answers from memory or the store.
      const inMemory = await deps.engine.read((ledger) => ledger.pending.get(transferId) ?? recent.get(transferId));
      const decision = inMemory ?? (await findDecision(deps.store, transferId));
      const transfer = decision && !isFailure(decision) ? decision : undefined;
      if (!transfer || ![transfer.payerId, transfer.payeeId, "operator"].includes(caller.participantId)) {
        throw clearingError("TRANSFER_NOT_FOUND", `no transfer ${transferId} visible to ${caller.participantId}`, { field: "transfer_id" });
      }
      return transferMessage(transfer);
    },

    /** Starts the expiry loop; returns its stop. */
    startExpiry(): () => void {
      const timer = setInterval(() => {
        const due = expiries.popDue(deps.now(), 1_000);
        if (due.length === 0) return;
        deps.engine.apply((ledger) => {
          const nowMs = deps.now();
          for (const transferId of due) {
            const pending = ledger.pending.get(transferId);
            if (pending && pending.expiresAtMs !== null && pending.expiresAtMs <= nowMs) decided(ledger.expire(transferId, nowMs));
          }
        }).catch((error: Error) => deps.logger.warn({ err: error.message }, "expiry batch failed; will retry"));
      }, deps.expiryCheckMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };

  /** CommitTransfer inside the engine: the pending transfer committed, or the finished one answered. */
  function commitApplied(ledger: Ledger, transferId: string, stored: Decision | undefined, request: CommitTransferRequest, caller: Caller): Transfer {
    const pending = ledger.pending.get(transferId);
    if (!pending) return answerFinished(recent.get(transferId) ?? stored, caller, "commit", request);
    if (caller.participantId !== pending.payeeId) throw new LedgerError("PERMISSION_DENIED", `only the payee ${pending.payeeId} may commit`, "transfer_id");
    const nowMs = deps.now();
    if (pending.expiresAtMs !== null && nowMs >= pending.expiresAtMs) {
      decided(ledger.expire(transferId, nowMs));
      throw new LedgerError("TRANSFER_EXPIRED", `transfer ${transferId} expired`, "transfer_id");
    }
    if (!fulfils(pending.conditionHex, request.fulfilment)) throw new LedgerError("FULFILMENT_MISMATCH", "the fulfilment does not match the condition", "fulfilment");
    const committed = committedPricing(pending, request);
    const record = ledger.commit(transferId, committed, nowMs);
    decided(record);
    return transferMessage(record);
  }

  function committedPricing(pending: TransferRecord, request: CommitTransferRequest) {
    if (!request.amount) return { amount: pending.preparedAmount, fee: pending.fee, payeeAmount: pending.payeeAmount };
    if (request.amount.currency !== pending.currency) throw new LedgerError("INVALID_ARGUMENT", `amount.currency must be ${pending.currency}`, "amount.currency");
    const amount = request.amount.amountMinor;
    if (amount <= 0n || amount > pending.preparedAmount) throw new LedgerError("PARTIAL_AMOUNT_TOO_LARGE", `the commit amount must be 1 to ${pending.preparedAmount}`, "amount.amount_minor");
    if (amount === pending.preparedAmount) return { amount, fee: pending.fee, payeeAmount: pending.payeeAmount };
    if (pending.quoteId || pending.fxProviderId) {
      throw new LedgerError("PARTIAL_COMMIT_NOT_ALLOWED", "a quoted or cross-currency transfer commits in full", "amount.amount_minor");
    }
    const payer = deps.participants.get(pending.payerId);
    const fee = feeFor(deps.feeSchedule, pending.currency, (payer?.kind ?? ParticipantKind.UNSPECIFIED) as ParticipantKind, amount);
    if (amount - fee <= 0n) throw new LedgerError("AMOUNT_TOO_SMALL", `${amount} does not cover the fee of ${fee}`, "amount.amount_minor");
    return { amount, fee, payeeAmount: amount - fee };
  }
}

/** A read begun before the engine reloaded may miss decisions memory no longer holds: retry. */
function requireFresh(read: StoreRead): void {
  if (read.stale()) throw new LedgerError("STORE_UNAVAILABLE", "clearing reloaded while this call was being read; retry with the same id");
}

/** Same id and same request: the transfer as it is now; a refused id: the same refusal. */
function answerRepeat(prior: Decision, terms: TransferTerms): Transfer {
  const differing = differingField(termsOf(prior), terms);
  if (differing) throw new LedgerError("IDEMPOTENCY_CONFLICT", `transfer ${terms.transferId} was first used with a different ${differing}`, differing);
  if (isFailure(prior)) throw new LedgerError(prior.reason, prior.message, prior.field);
  return transferMessage(prior);
}

/** Commit or abort of a transfer that is no longer prepared. */
function answerFinished(decision: Decision | undefined, caller: Caller, action: "commit" | "abort", request: CommitTransferRequest | undefined): Transfer {
  if (!decision || isFailure(decision)) throw new LedgerError("TRANSFER_NOT_FOUND", "no such prepared transfer", "transfer_id");
  const transfer = decision;
  const allowed = action === "commit" ? [transfer.payeeId] : [transfer.payerId, transfer.payeeId];
  if (!allowed.includes(caller.participantId)) throw new LedgerError("PERMISSION_DENIED", `${caller.participantId} may not ${action} this transfer`, "transfer_id");
  if (transfer.state === TransferState.EXPIRED) throw new LedgerError("TRANSFER_EXPIRED", `transfer ${transfer.transferId} expired`, "transfer_id");
  if (action === "commit") {
    if (transfer.state === TransferState.ABORTED) throw new LedgerError("TRANSFER_ABORTED", `transfer ${transfer.transferId} was aborted`, "transfer_id");
    // A repeated commit answers the committed transfer; asking for another amount is a conflict.
    if (request?.amount && request.amount.amountMinor !== transfer.amount) {
      throw new LedgerError("IDEMPOTENCY_CONFLICT", `transfer ${transfer.transferId} was committed for ${transfer.amount}`, "amount.amount_minor");
    }
    return transferMessage(transfer);
  }
  if (transfer.state === TransferState.COMMITTED) throw new LedgerError("TRANSFER_COMMITTED", `transfer ${transfer.transferId} is committed`, "transfer_id");
  return transferMessage(transfer);
}

function quotedPricing(terms: TransferTerms, quote: QuotedPricing | undefined, nowMs: number): TransferPricing {
  if (!quote) throw new LedgerError("QUOTE_NOT_FOUND", `no quote ${terms.quoteId}`, "quote_id");
  const mismatch = quote.payerId !== terms.payerId ? "payer_id" : quote.payeeId !== terms.payeeId ? "payee_id"
    : quote.currency !== terms.currency ? "amount.currency" : quote.amount !== terms.amount ? "amount.amount_minor" : undefined;
  if (mismatch) throw new LedgerError("QUOTE_MISMATCH", `the transfer does not match quote ${terms.quoteId} (${mismatch})`, mismatch);
  if (nowMs >= quote.expiresAtMs) throw new LedgerError("QUOTE_EXPIRED", `quote ${terms.quoteId} expired`, "quote_id");
  const { fee, payeeCurrency, payeeAmount, fxProviderId, rate } = quote;
  return { fee, payeeCurrency, payeeAmount, fxProviderId, rate };
}

/** The transfer that already cites a quote, if any. */
async function transferCitingQuote(db: Queryable, quoteId: string): Promise<string | undefined> {
  const [row] = await db.query<{ transfer_id: string }>("SELECT transfer_id FROM transfers WHERE quote_id = $1 LIMIT 1", [quoteId]);
  return row?.transfer_id;
}

/** A stored transfer or stored refusal for an id: one statement (one round trip on PostgreSQL). */
export async function findDecision(db: Queryable, transferId: string): Promise<Decision | undefined> {
  const [row] = await db.query<TransferRow & { transfer_id: string | null; failure_terms: string | null; failure_reason: string; failure_message: string; failure_field: string }>(
    `SELECT t.*, f.terms AS failure_terms, f.reason AS failure_reason, f.message AS failure_message, f.field AS failure_field
     FROM (SELECT CAST($1 AS TEXT) AS id) wanted
     LEFT JOIN transfers t ON t.transfer_id = wanted.id
     LEFT JOIN transfer_failures f ON f.transfer_id = wanted.id`, [transferId]);
  if (!row) return undefined;
  if (row.transfer_id !== null) return transferFromRow(row);
  if (row.failure_terms === null) return undefined;
  const raw = JSON.parse(row.failure_terms) as Record<string, unknown>;
  const terms = { ...raw, amount: BigInt(raw.amount as string) } as unknown as TransferTerms;
  return { terms, reason: row.failure_reason as TransferFailure["reason"], message: row.failure_message, field: row.failure_field || undefined };
}

// QuoteSend and SendMoney. A payee alias held by an active user of the same provider is paid by
// one local transaction (debit and credit together, no fee, no clearing). Any other alias is
// looked up at clearing and paid by a clearing transfer from this provider to the holder, with
// the alias as payee_reference: a hold first, then CreateTransfer signed as the provider, then
// the hold becomes a debit (committed) or is released (refused). Without an answer the movement
// stays pending with its hold and the reconciler settles it. Idempotent on request_id.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { AmountType, SendQuoteSchema, TransferState, type QuoteSendRequest, type SendMoneyRequest, type SendQuote, type Transfer, type WalletTransaction } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { newUlid } from "@clearmesh/bus";
import { ensureAccount, lockUser, placeHold, post, userAccount } from "../books/ledger.js";
import { PASSED_ON_CLEARING_REASONS, WalletError, type WalletReason } from "../errors.js";
import { moneyParameter, type Notifier } from "../notifications/notify.js";
import { aliasHashes, keyedDigest, openPersonal, sealPersonal } from "../users/personal.js";
import { findUserByAlias, loadUserKey, type UserRow } from "../users/repository.js";
import type { Session } from "../users/service.js";
import { maskAlias, normalizeAlias, requireId, requirePositiveMoney } from "../validation.js";
import type { ClearingGateway, Outcome } from "./clearing.js";
import { completeOutgoing, failOutgoing, findMovement, findMovementByRequest, insertMovement, refusalOf, repeatOf, transactionView, type MovementRow } from "./movements.js";

export interface SendDeps {
  store: Store;
  dataKeys: DataKeyRing;
  clearing: ClearingGateway;
  notifier: Notifier;
  holdTimeoutMs: number;
  now: () => number;
  logger: Logger;
  /** Wakes the outbox relay after a commit that wrote events. */
  wake: () => void;
}

type Payee = { kind: "local"; user: UserRow } | { kind: "remote"; participantId: string };

export type SendService = ReturnType<typeof createSendService>;

export function createSendService(deps: SendDeps) {
  async function resolvePayee(session: Session, alias: { alias: string; kind: "email" | "phone" }): Promise<Payee> {
    const column = alias.kind === "email" ? "email_hash" : "phone_hash";
    const local = await findUserByAlias(deps.store, session.providerId, column, aliasHashes(deps.dataKeys, alias.kind, alias.alias));
    if (local) {
      if (local.user_id === session.userId) throw new WalletError("SAME_USER", "you cannot pay yourself", { field: "payee" });
      return { kind: "local", user: local };
    }
    const party = await deps.clearing.lookupParty(session.providerId, alias.alias);
    if (party.kind === "unknown") throw new WalletError("CLEARING_UNAVAILABLE", "clearing did not answer the alias lookup; try again");
    // No holder, or this very provider holds it without an active user (e.g. erased).
    if (party.kind === "refused" || party.value.participantId === session.providerId) throw new WalletError("PAYEE_NOT_FOUND", "no wallet holds this alias", { field: "payee" });
    return { kind: "remote", participantId: party.value.participantId };
  }

  async function quote(session: Session, request: QuoteSendRequest): Promise<SendQuote> {
    const alias = normalizeAlias("payee", request.payee);
    const amount = requirePositiveMoney("amount", request.amount);
    const payee = await resolvePayee(session, alias);
    if (payee.kind === "local") {
      return create(SendQuoteSchema, { amount, fee: { currency: amount.currency, amountMinor: 0n }, receiveAmount: amount, payeeProviderId: session.providerId });
    }
    const quoteId = `q_${newUlid()}`;
    const outcome = await deps.clearing.createQuote(session.providerId, {
      quoteId, payerId: session.providerId, payeeId: payee.participantId, amountType: AmountType.SEND, amount,
    });
    const quoted = valueOrThrow(outcome);
    const expiresAtMs = quoted.expiresAt ? Number(timestampMs(quoted.expiresAt)) : deps.now();
    await deps.store.execute(
      "INSERT INTO wallet_quotes (quote_id, user_id, payee_provider_id, currency, amount_minor, fee_minor, expires_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      [quoteId, session.userId, payee.participantId, amount.currency, amount.amountMinor, quoted.fee?.amountMinor ?? 0n, BigInt(expiresAtMs), BigInt(deps.now())],
    );
    return create(SendQuoteSchema, {
      quoteId, amount: quoted.sendAmount, fee: quoted.fee, receiveAmount: quoted.receiveAmount, payeeProviderId: payee.participantId, expiresAt: timestampFromMs(expiresAtMs),
    });
  }

  async function send(session: Session, request: SendMoneyRequest): Promise<WalletTransaction> {
    const requestId = requireId("request_id", request.requestId);
    const alias = normalizeAlias("payee", request.payee);
    const amount = requirePositiveMoney("amount", request.amount);
    const quoteId = request.quoteId === "" ? "" : requireId("quote_id", request.quoteId);
    const fingerprint = JSON.stringify({ payee: keyedDigest(deps.dataKeys, alias.alias), currency: amount.currency, amount_minor: String(amount.amountMinor), quote_id: quoteId });
    const existing = await findMovementByRequest(deps.store, session.userId, requestId);
    if (existing) return answerRepeat(session, existing, fingerprint);
    const payee = await resolvePayee(session, alias);
    const payerKey = await loadUserKey(deps.store, deps.dataKeys, session.userId);
    if (!payerKey) throw new WalletError("UNAUTHENTICATED", "authentication failed");
    const base = { session, requestId, fingerprint, alias, amount, payerKey };
    if (payee.kind === "local") return sendLocal(base, payee.user);
    if (quoteId !== "") await requireOwnQuote(session, quoteId);
    return sendRemote({ ...base, quoteId }, payee.participantId);
  }

  interface SendInput {
    session: Session;
    requestId: string;
    fingerprint: string;
    alias: { alias: string; kind: "email" | "phone" };
    amount: { currency: string; amountMinor: bigint };
    payerKey: DataKeyRing;
  }

  async function sendLocal(input: SendInput, payee: UserRow): Promise<WalletTransaction> {
    const { session, amount } = input;
    const movementId = `mv_${newUlid()}`;
    const nowMs = deps.now();
    const inserted = await deps.store.transaction(async (tx) => {
      const created = await insertMovement(tx, {
        movementId, providerId: session.providerId, userId: session.userId, kind: "sent", state: "completed", currency: amount.currency, amountMinor: amount.amountMinor,
        counterpartySealed: sealPersonal(input.payerKey, maskAlias(input.alias.alias)), counterpartyProviderId: session.providerId,
        requestId: input.requestId, fingerprint: input.fingerprint, nowMs,
      });
      if (!created) return false;
      if ((await lockUser(tx, payee.user_id))?.status !== "active") throw new WalletError("PAYEE_NOT_FOUND", "no wallet holds this alias", { field: "payee" });
      const payeeKey = await loadUserKey(tx, deps.dataKeys, payee.user_id);
      const [payer] = await tx.query<{ email_sealed: string | null }>("SELECT email_sealed FROM users WHERE user_id = $1", [session.userId]);
      const payerShown = payer?.email_sealed ? maskAlias(openPersonal(input.payerKey, payer.email_sealed)) : "";
      const incomingId = `mv_${newUlid()}`;
      await insertMovement(tx, {
        movementId: incomingId, providerId: session.providerId, userId: payee.user_id, kind: "received", state: "completed", currency: amount.currency,
        amountMinor: amount.amountMinor, counterpartySealed: payeeKey ? sealPersonal(payeeKey, payerShown) : null, counterpartyProviderId: session.providerId, nowMs,
      });
      const from = userAccount(session.providerId, session.userId, amount.currency);
      const to = userAccount(session.providerId, payee.user_id, amount.currency);
      await ensureAccount(tx, from);
      await ensureAccount(tx, to);
      const posted = await post(tx, movementId, [{ accountId: from.accountId, amountMinor: -amount.amountMinor }, { accountId: to.accountId, amountMinor: amount.amountMinor }], nowMs);
      if (!posted.ok && posted.accountId === from.accountId) throw new WalletError("INSUFFICIENT_FUNDS", "the available balance does not cover the amount", { field: "amount.amount_minor" });
      if (!posted.ok) throw new WalletError("AMOUNT_OVERFLOW", "the payee's balance would exceed int64", { field: "amount.amount_minor" });
      const shown = moneyParameter(amount.currency, amount.amountMinor);
      await deps.notifier.notify(tx, { notificationId: `${movementId}.done`, userId: session.userId, kind: "transfer.sent", parameters: { amount: shown, payee: maskAlias(input.alias.alias) } });
      await deps.notifier.notify(tx, { notificationId: `${incomingId}.done`, userId: payee.user_id, kind: "transfer.received", parameters: { amount: shown, ...(payerShown ? { sender: payerShown } : {}) } });
      return true;
    });
    deps.wake();
    if (!inserted) return answerRepeat(session, (await findMovementByRequest(deps.store, session.userId, input.requestId))!, input.fingerprint);
    deps.logger.info({ movementId, providerId: session.providerId, amountMinor: String(amount.amountMinor) }, "local transfer");
    return transactionView((await findMovement(deps.store, movementId))!, input.payerKey);
  }

  async function sendRemote(input: SendInput & { quoteId: string }, payeeId: string): Promise<WalletTransaction> {
    const { session, amount } = input;
    const movementId = `mv_${newUlid()}`;
    const nowMs = deps.now();
    const inserted = await deps.store.transaction(async (tx) => {
      const created = await insertMovement(tx, {
        movementId, providerId: session.providerId, userId: session.userId, kind: "sent", state: "pending", currency: amount.currency, amountMinor: amount.amountMinor,
        counterpartySealed: sealPersonal(input.payerKey, maskAlias(input.alias.alias)), counterpartyProviderId: payeeId,
        requestId: input.requestId, fingerprint: input.fingerprint, transferId: movementId, quoteId: input.quoteId || undefined, nowMs,
        nextCheckAtMs: nowMs + deps.holdTimeoutMs,
      });
      if (!created) return false;
      const account = userAccount(session.providerId, session.userId, amount.currency);
      await ensureAccount(tx, account);
      if (!(await placeHold(tx, account.accountId, amount.amountMinor))) throw new WalletError("INSUFFICIENT_FUNDS", "the available balance does not cover the amount", { field: "amount.amount_minor" });
      return true;
    });
    if (!inserted) return answerRepeat(session, (await findMovementByRequest(deps.store, session.userId, input.requestId))!, input.fingerprint);
    const outcome = await deps.clearing.createTransfer(session.providerId, {
      transferId: movementId, payerId: session.providerId, payeeId, amount, quoteId: input.quoteId, payerReference: movementId, payeeReference: input.alias.alias,
    });
    await settle(movementId, outcome, { payee: maskAlias(input.alias.alias) });
    const movement = (await findMovement(deps.store, movementId))!;
    deps.logger.info({ movementId, providerId: session.providerId, payeeId, state: movement.state }, "transfer to another provider");
    if (movement.state === "failed") throw refusalOf(movement);
    return transactionView(movement, input.payerKey);
  }

  /** Acts on clearing's answer to a transfer: committed → debit; refused → release; unknown → nothing yet. */
  async function settle(movementId: string, outcome: Outcome<Transfer>, parameters: Record<string, string>): Promise<void> {
    if (outcome.kind === "unknown") return;
    await deps.store.transaction(async (tx) => {
      const movement = await findMovement(tx, movementId);
      if (!movement) return;
      if (outcome.kind === "refused") return void (await failOutgoing(tx, deps.notifier, movement, outcome.reason, outcome.message, deps.now()));
      if (outcome.value.state === TransferState.COMMITTED) await completeOutgoing(tx, deps.notifier, movement, { feeMinor: outcome.value.fee?.amountMinor ?? 0n }, parameters, deps.now());
    });
    deps.wake();
  }

  async function requireOwnQuote(session: Session, quoteId: string): Promise<void> {
    const rows = await deps.store.query("SELECT 1 AS found FROM wallet_quotes WHERE quote_id = $1 AND user_id = $2", [quoteId, session.userId]);
    if (rows.length === 0) throw new WalletError("QUOTE_NOT_FOUND", "no quote with this id was given to you", { field: "quote_id" });
  }

  async function answerRepeat(session: Session, movement: MovementRow, fingerprint: string): Promise<WalletTransaction> {
    return transactionView(repeatOf(movement, fingerprint), await loadUserKey(deps.store, deps.dataKeys, session.userId));
  }

  return { quote, send, settle };
}

function valueOrThrow<T>(outcome: Outcome<T>): T {
  if (outcome.kind === "ok") return outcome.value;
  if (outcome.kind === "unknown") throw new WalletError("CLEARING_UNAVAILABLE", "clearing did not answer; try again");
  const reason: WalletReason = PASSED_ON_CLEARING_REASONS.has(outcome.reason) ? outcome.reason as WalletReason : "CLEARING_REFUSED";
  throw new WalletError(reason, `clearing refused: ${outcome.message}`, { clearing_reason: outcome.reason });
}

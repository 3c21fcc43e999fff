// Linked bank accounts, top-ups and withdrawals (the bank-adapter's mandates and pulls).
// - LinkBankAccount: RequestMandate at the bank-adapter signed as the provider (the bank sends
//   the holder a one-time code); ConfirmBankAccount: ConfirmMandate with that code, which returns
//   the mandate token once. The wallet only ever sees the account number masked; the account id,
//   the masked number (user's key) and the token (DATA_KEYS) are stored sealed.
// - TopUp: PullFunds under the mandate (pull id = clearing transfer id = the movement id, payee
//   reference = the movement id); the bank pays the provider through clearing, and the user is
//   credited what the provider received once the transfer is committed: from the pull's answer,
//   the committed event, or the reconciler (which repeats the same PullFunds), whichever is first.
// - Withdraw: a hold, then a clearing transfer from the provider to the account's bank with
//   payee_reference = the account id (the bank credits the account); settled like SendMoney.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  BankAccountSchema, BankAccountState, ListBankAccountsResponseSchema, MandateState, PullState, TransferState,
  type BankAccount, type ConfirmBankAccountRequest, type LinkBankAccountRequest, type ListBankAccountsResponse, type Pull, type TopUpRequest, type Transfer,
  type WalletTransaction, type WithdrawRequest,
} from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import { newUlid } from "@clearmesh/bus";
import type { Store, Transaction } from "@clearmesh/store";
import { PARTICIPANT_ID_PATTERN, seal, unsealText, type DataKeyRing } from "@clearmesh/trust";
import { clearingAccount, ensureAccount, lockUser, placeHold, post, userAccount } from "../books/ledger.js";
import { MANDATE_REFUSALS, WalletError, invalidField } from "../errors.js";
import { moneyParameter, type Notifier } from "../notifications/notify.js";
import { keyedDigest, openPersonal, sealPersonal } from "../users/personal.js";
import { loadUserKey } from "../users/repository.js";
import type { Session } from "../users/service.js";
import { requireId, requirePositiveMoney } from "../validation.js";
import type { ClearingGateway, Outcome } from "./clearing.js";
import { failIncoming, findMovement, findMovementByRequest, insertMovement, refusalOf, repeatOf, transactionView, type MovementRow } from "./movements.js";
import type { BankGateway } from "./partners.js";
import type { SendService } from "./send.js";

export interface BankLinkDeps {
  store: Store;
  dataKeys: DataKeyRing;
  bank: BankGateway;
  clearing: ClearingGateway;
  notifier: Notifier;
  send: SendService;
  holdTimeoutMs: number;
  now: () => number;
  logger: Logger;
  wake: () => void;
}

type LinkRow = {
  link_id: string;
  user_id: string;
  provider_id: string;
  bank_id: string;
  request_id: string;
  fingerprint: string;
  state: "requested" | "pending_confirmation" | "active" | "failed";
  currency: string;
  account_sealed: string | null;
  masked_number_sealed: string | null;
  mandate_id: string;
  token_sealed: string | null;
  code_expires_at_ms: bigint;
  failure_reason: string;
  created_at_ms: bigint;
};

const STATE_OF: Readonly<Record<LinkRow["state"], BankAccountState>> = {
  requested: BankAccountState.REQUESTED, pending_confirmation: BankAccountState.PENDING_CONFIRMATION, active: BankAccountState.ACTIVE, failed: BankAccountState.FAILED,
};

export type BankLinkService = ReturnType<typeof createBankLinkService>;

export function createBankLinkService(deps: BankLinkDeps) {
  const view = (row: LinkRow, key: DataKeyRing | undefined): BankAccount => create(BankAccountSchema, {
    linkId: row.link_id, bankId: row.bank_id, state: STATE_OF[row.state], currency: row.currency, failureReason: row.failure_reason,
    maskedAccountNumber: row.masked_number_sealed && key ? openPersonal(key, row.masked_number_sealed) : "",
    codeExpiresAt: row.state === "pending_confirmation" && row.code_expires_at_ms > 0n ? timestampFromMs(Number(row.code_expires_at_ms)) : undefined,
  });
  const findLink = async (db: Pick<Store, "query">, linkId: string): Promise<LinkRow | undefined> => (await db.query<LinkRow>("SELECT * FROM bank_links WHERE link_id = $1", [linkId]))[0];
  const userKey = async (session: Session) => {
    const key = await loadUserKey(deps.store, deps.dataKeys, session.userId);
    if (!key) throw new WalletError("UNAUTHENTICATED", "authentication failed");
    return key;
  };

  async function link(session: Session, request: LinkBankAccountRequest): Promise<BankAccount> {
    const requestId = requireId("request_id", request.requestId);
    if (!PARTICIPANT_ID_PATTERN.test(request.bankId)) throw invalidField("bank_id", "must be a participant id");
    const accountId = requireId("account_id", request.accountId);
    const perTransfer = requirePositiveMoney("per_transfer_limit", request.perTransferLimit);
    const daily = requirePositiveMoney("daily_limit", request.dailyLimit);
    if (daily.currency !== perTransfer.currency) throw invalidField("daily_limit.currency", "must be the currency of per_transfer_limit");
    const key = await userKey(session);
    const fingerprint = JSON.stringify({ bank_id: request.bankId, account_id: keyedDigest(deps.dataKeys, accountId), currency: daily.currency,
      per_transfer_limit: String(perTransfer.amountMinor), daily_limit: String(daily.amountMinor) });
    let row = (await deps.store.query<LinkRow>("SELECT * FROM bank_links WHERE user_id = $1 AND request_id = $2", [session.userId, requestId]))[0];
    if (row && row.fingerprint !== fingerprint) throw new WalletError("IDEMPOTENCY_CONFLICT", `request ${requestId} was first used with a different link`, { field: "request_id" });
    if (!row) {
      const linkId = `bl_${newUlid()}`;
      await deps.store.execute(
        `INSERT INTO bank_links (link_id, user_id, provider_id, bank_id, request_id, fingerprint, state, currency, account_sealed, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8, $9) ON CONFLICT DO NOTHING`,
        [linkId, session.userId, session.providerId, request.bankId, requestId, fingerprint, daily.currency, sealPersonal(key, accountId), BigInt(deps.now())],
      );
      row = (await deps.store.query<LinkRow>("SELECT * FROM bank_links WHERE user_id = $1 AND request_id = $2", [session.userId, requestId]))[0]!;
    }
    if (row.state === "failed") throw new WalletError("BANK_REFUSED", `the bank refused the mandate: ${row.failure_reason}`, { bank_reason: row.failure_reason });
    if (row.state !== "requested") return view(row, key);
    // The bank's request id is the link id, so asking again after no answer is safe.
    const outcome = await deps.bank.requestMandate(session.providerId, {
      requestId: row.link_id, accountId, payeeId: session.providerId, perTransferLimit: perTransfer, dailyLimit: daily,
    });
    if (outcome.kind === "unknown") throw new WalletError("BANK_UNAVAILABLE", "the bank did not answer; repeat the request with the same request_id");
    if (outcome.kind === "refused") {
      await deps.store.execute("UPDATE bank_links SET state = 'failed', failure_reason = $2 WHERE link_id = $1 AND state = 'requested'", [row.link_id, outcome.reason]);
      throw new WalletError("BANK_REFUSED", `the bank refused the mandate: ${outcome.message}`, { bank_reason: outcome.reason });
    }
    const mandate = outcome.value;
    await deps.store.execute(
      "UPDATE bank_links SET state = 'pending_confirmation', mandate_id = $2, masked_number_sealed = $3, code_expires_at_ms = $4 WHERE link_id = $1 AND state = 'requested'",
      [row.link_id, mandate.mandateId, sealPersonal(key, mandate.maskedAccountNumber), mandate.codeExpiresAt ? timestampMs(mandate.codeExpiresAt) : 0n],
    );
    deps.logger.info({ linkId: row.link_id, bankId: row.bank_id, mandateId: mandate.mandateId }, "bank account link requested");
    return view((await findLink(deps.store, row.link_id))!, key);
  }

  async function confirm(session: Session, request: ConfirmBankAccountRequest): Promise<BankAccount> {
    const row = await ownLink(session, request.linkId);
    const key = await userKey(session);
    if (row.state === "active") return view(row, key);
    if (row.state !== "pending_confirmation") throw new WalletError("MANDATE_INVALID", "this link has no mandate waiting for a code; link the account again", { state: row.state });
    const outcome = await deps.bank.confirmMandate(session.providerId, row.mandate_id, request.code);
    if (outcome.kind === "unknown") throw new WalletError("BANK_UNAVAILABLE", "the bank did not answer; try again");
    if (outcome.kind === "refused" || outcome.value.state !== MandateState.ACTIVE || outcome.value.mandateToken === "") {
      const reason = outcome.kind === "refused" ? outcome.reason : "MANDATE_NOT_ACTIVE";
      // A wrong code may be tried again (the bank counts); an expired or used-up mandate ends the link.
      if (reason !== "MANDATE_CODE_INVALID") await deps.store.execute("UPDATE bank_links SET state = 'failed', failure_reason = $2 WHERE link_id = $1 AND state = 'pending_confirmation'", [row.link_id, reason]);
      throw new WalletError(MANDATE_REFUSALS.has(reason) ? "MANDATE_INVALID" : "BANK_REFUSED", "the bank did not confirm the mandate", { bank_reason: reason });
    }
    await deps.store.execute("UPDATE bank_links SET state = 'active', token_sealed = $2, code_expires_at_ms = 0 WHERE link_id = $1 AND state = 'pending_confirmation'",
      [row.link_id, seal(deps.dataKeys, outcome.value.mandateToken)]);
    deps.logger.info({ linkId: row.link_id, bankId: row.bank_id }, "bank account linked");
    return view((await findLink(deps.store, row.link_id))!, key);
  }

  async function list(session: Session): Promise<ListBankAccountsResponse> {
    const rows = await deps.store.query<LinkRow>("SELECT * FROM bank_links WHERE user_id = $1 ORDER BY created_at_ms DESC, link_id DESC", [session.userId]);
    const key = await loadUserKey(deps.store, deps.dataKeys, session.userId);
    return create(ListBankAccountsResponseSchema, { bankAccounts: rows.map((row) => view(row, key)) });
  }

  async function ownLink(session: Session, linkId: string): Promise<LinkRow> {
    const row = await findLink(deps.store, requireId("link_id", linkId));
    if (!row || row.user_id !== session.userId) throw new WalletError("BANK_ACCOUNT_NOT_FOUND", "no such linked account of yours", { field: "link_id" });
    return row;
  }

  async function activeLink(session: Session, linkId: string, currency: string): Promise<LinkRow> {
    const row = await ownLink(session, linkId);
    if (row.state !== "active" || !row.token_sealed) throw new WalletError("BANK_ACCOUNT_NOT_ACTIVE", "confirm the link with the bank's code first", { field: "link_id" });
    if (row.currency !== currency) throw new WalletError("CURRENCY_MISMATCH", `the linked account is in ${row.currency}`, { field: "amount.currency" });
    return row;
  }

  /**
   * What a top-up and a withdrawal both start with: the checked request, and either the answer to
   * a repeat of its request id or the active link it moves money through.
   */
  async function linkMovementStart(session: Session, request: TopUpRequest | WithdrawRequest) {
    const requestId = requireId("request_id", request.requestId);
    const amount = requirePositiveMoney("amount", request.amount);
    const fingerprint = JSON.stringify({ link_id: request.linkId, currency: amount.currency, amount_minor: String(amount.amountMinor) });
    const key = await userKey(session);
    const existing = await findMovementByRequest(deps.store, session.userId, requestId);
    if (existing) return { kind: "repeat", answer: transactionView(repeatOf(existing, fingerprint), key) } as const;
    const row = await activeLink(session, request.linkId, amount.currency);
    return { kind: "new", requestId, amount, fingerprint, key, row } as const;
  }

  async function topUp(session: Session, request: TopUpRequest): Promise<WalletTransaction> {
    const start = await linkMovementStart(session, request);
    if (start.kind === "repeat") return start.answer;
    const { requestId, amount, fingerprint, key, row } = start;
    const movementId = `mv_${newUlid()}`;
    const nowMs = deps.now();
    const inserted = await insertMovement(deps.store, {
      movementId, providerId: session.providerId, userId: session.userId, kind: "top_up", state: "pending", currency: amount.currency, amountMinor: amount.amountMinor,
      counterpartySealed: row.masked_number_sealed, counterpartyProviderId: row.bank_id, requestId, fingerprint, transferId: movementId, reference: row.link_id,
      nowMs, nextCheckAtMs: nowMs + deps.holdTimeoutMs,
    });
    if (!inserted) return transactionView(repeatOf((await findMovementByRequest(deps.store, session.userId, requestId))!, fingerprint), key);
    await pull((await findMovement(deps.store, movementId))!, row);
    const movement = (await findMovement(deps.store, movementId))!;
    if (movement.state === "failed") throw refusalOf(movement);
    return transactionView(movement, key);
  }

  /** Asks the bank to pull (again: the pull id makes it idempotent) and acts on its answer. */
  async function pull(movement: MovementRow, row: LinkRow): Promise<void> {
    const outcome = await deps.bank.pullFunds(movement.provider_id, {
      pullId: movement.transfer_id!, mandateToken: unsealText(deps.dataKeys, row.token_sealed!), amount: { currency: movement.currency, amountMinor: movement.amount_minor },
      payeeReference: movement.movement_id,
    });
    await settleTopUp(movement, outcome);
  }

  async function settleTopUp(movement: MovementRow, outcome: Outcome<Pull>): Promise<void> {
    if (outcome.kind === "unknown") return;
    if (outcome.kind === "ok" && outcome.value.state === PullState.COMPLETED) {
      const transfer = await deps.clearing.getTransfer(movement.provider_id, outcome.value.transferId);
      // Without clearing's record the committed event (or the next round) completes it.
      if (transfer.kind !== "ok" || transfer.value.state !== TransferState.COMMITTED) return;
      await deps.store.transaction((tx) => completeTopUp(deps, tx, movement, transfer.value));
      deps.wake();
      return;
    }
    const [reason, message] = outcome.kind === "refused" ? [outcome.reason, outcome.message] : [outcome.value.failureReason.split(":")[0] || "PULL_FAILED", outcome.value.failureReason];
    await deps.store.transaction((tx) => failIncoming(tx, deps.notifier, movement, reason, message, deps.now()));
    deps.wake();
  }

  async function withdraw(session: Session, request: WithdrawRequest): Promise<WalletTransaction> {
    const start = await linkMovementStart(session, request);
    if (start.kind === "repeat") return start.answer;
    const { requestId, amount, fingerprint, key, row } = start;
    const movementId = `mv_${newUlid()}`;
    const nowMs = deps.now();
    const inserted = await deps.store.transaction(async (tx) => {
      const created = await insertMovement(tx, {
        movementId, providerId: session.providerId, userId: session.userId, kind: "withdrawal", state: "pending", currency: amount.currency, amountMinor: amount.amountMinor,
        counterpartySealed: row.masked_number_sealed, counterpartyProviderId: row.bank_id, requestId, fingerprint, transferId: movementId, reference: row.link_id,
        nowMs, nextCheckAtMs: nowMs + deps.holdTimeoutMs,
      });
      if (!created) return false;
      const account = userAccount(session.providerId, session.userId, amount.currency);
      await ensureAccount(tx, account);
      if (!(await placeHold(tx, account.accountId, amount.amountMinor))) throw new WalletError("INSUFFICIENT_FUNDS", "the available balance does not cover the amount", { field: "amount.amount_minor" });
      return true;
    });
    if (!inserted) return transactionView(repeatOf((await findMovementByRequest(deps.store, session.userId, requestId))!, fingerprint), key);
    const outcome = await deps.clearing.createTransfer(session.providerId, {
      transferId: movementId, payerId: session.providerId, payeeId: row.bank_id, amount, payerReference: movementId, payeeReference: openPersonal(key, row.account_sealed!),
    });
    await deps.send.settle(movementId, outcome, {});
    const movement = (await findMovement(deps.store, movementId))!;
    deps.logger.info({ movementId, bankId: row.bank_id, state: movement.state }, "withdrawal");
    if (movement.state === "failed") throw refusalOf(movement);
    return transactionView(movement, key);
  }

  /** The reconciler's step for a pending top-up: the same PullFunds again. */
  async function resolveTopUp(movement: MovementRow): Promise<void> {
    const row = movement.reference ? await findLink(deps.store, movement.reference) : undefined;
    if (!row?.token_sealed) {
      await deps.store.transaction((tx) => failIncoming(tx, deps.notifier, movement, "MANDATE_NOT_FOUND", "the linked account is gone", deps.now()));
      return;
    }
    await pull(movement, row);
  }

  return { link, confirm, list, topUp, withdraw, resolveTopUp };
}

/**
 * Completes a pending top-up from its committed transfer: the user is credited what the provider
 * received (amount − fee), the clearing mirror falls as much. False when it was not pending.
 */
export async function completeTopUp(deps: { notifier: Notifier; now: () => number }, tx: Transaction, movement: MovementRow, transfer: Transfer): Promise<boolean> {
  const received = transfer.payeeAmount?.amountMinor ?? (transfer.amount?.amountMinor ?? 0n) - (transfer.fee?.amountMinor ?? 0n);
  const nowMs = deps.now();
  if (received <= 0n) return false;
  await lockUser(tx, movement.user_id);
  const { changes } = await tx.execute(
    "UPDATE movements SET state = 'completed', amount_minor = $2, fee_minor = $3, completed_at_ms = $4 WHERE movement_id = $1 AND state = 'pending'",
    [movement.movement_id, received, transfer.fee?.amountMinor ?? 0n, BigInt(nowMs)],
  );
  if (changes !== 1) return false;
  const account = userAccount(movement.provider_id, movement.user_id, movement.currency);
  const mirror = clearingAccount(movement.provider_id, movement.currency);
  await ensureAccount(tx, account);
  await ensureAccount(tx, mirror);
  const posted = await post(tx, movement.movement_id, [{ accountId: account.accountId, amountMinor: received }, { accountId: mirror.accountId, amountMinor: -received }], nowMs);
  if (!posted.ok) throw new Error(`books invariant: top-up ${movement.movement_id} refused on ${posted.accountId} (${posted.problem})`);
  await deps.notifier.notify(tx, {
    notificationId: `${movement.movement_id}.done`, userId: movement.user_id, kind: "topup.completed", parameters: { amount: moneyParameter(movement.currency, received) },
  });
  return true;
}

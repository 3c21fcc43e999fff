// Mandates: the holder's consent for a payee participant to pull money from an account.
// RequestMandate (signed by the payee) stores the mandate PENDING_CONFIRMATION with the scrypt hash
// of a fresh one-time code and, in the same transaction, puts clearmesh.notify.requested in the
// outbox (kind "mandate.code", SMS then e-mail, the code and the holder's contacts sealed with the
// notification data key). ConfirmMandate with that code within MANDATE_CODE_TTL_MS makes it
// ACTIVE and returns its token once; wrong codes count, and the MANDATE_CODE_ATTEMPTS-th expires it.
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { buildEnvelope, enqueueEvent, newUlid, type OutboxRelay } from "@clearmesh/bus";
import {
  Channel, MandateSchema, MandateState, MoneySchema, NotificationRequestedSchema, type ConfirmMandateRequest, type Mandate,
  type RequestMandateRequest, type RevokeMandateRequest,
} from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import { UniqueViolationError, type Store, type Transaction } from "@clearmesh/store";
import { maskEmail, maskPhone, seal, type DataKeyRing, type SigningKey } from "@clearmesh/trust";
import type { AccountService } from "../accounts/service.js";
import { OPERATOR } from "../accounts/service.js";
import { findAccount, type AccountRow } from "../accounts/repository.js";
import { BankError, fieldError } from "../errors.js";
import { requireSameRequest } from "../idempotency.js";
import { formatMinor } from "@clearmesh/runtime";
import { requireId, requireParticipantId, requirePositiveMoney } from "../validation.js";
import { codeMatches, hashCode, newCode, newMandateToken } from "./codes.js";
import {
  activateMandate, expireMandate, findMandate, findMandateByRequest, insertMandate, recordWrongCode, revokeMandate, type MandateRow,
  type MandateStateText,
} from "./repository.js";

export const NOTIFY_REQUESTED_SUBJECT = "clearmesh.notify.requested";
export const MANDATE_CODE_KIND = "mandate.code";
const NOTIFICATION_LOCALE = "en-US";
/** Longest code text hashed: anything longer is not a code (and must not cost a long scrypt). */
const MAX_CODE_CHARS = 16;

export interface MandateServiceDeps {
  store: Store;
  accounts: AccountService;
  identity: SigningKey;
  outbox: Pick<OutboxRelay, "notify">;
  notifyDataKeys: DataKeyRing;
  codeTtlMs: number;
  maxCodeAttempts: number;
  now: () => number;
  logger: Logger;
}

export type MandateService = ReturnType<typeof createMandateService>;

export function createMandateService(deps: MandateServiceDeps) {
  async function mandateFor(mandateId: string, caller: Caller, allowBank: boolean): Promise<{ mandate: MandateRow; account: AccountRow }> {
    const mandate = await findMandate(deps.store, requireId("mandate_id", mandateId));
    if (!mandate) throw new BankError("MANDATE_NOT_FOUND", `no mandate ${mandateId}`, { field: "mandate_id" });
    const account = (await findAccount(deps.store, mandate.accountId))!;
    const allowed = caller.participantId === mandate.payeeId || (allowBank && [account.bankId, OPERATOR].includes(caller.participantId));
    if (!allowed) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not act on mandate ${mandateId}`);
    return { mandate, account };
  }

  const message = (mandate: MandateRow, account: AccountRow, token = "") => mandateMessage(mandate, account, deps.now(), token);

  async function request(asked: RequestMandateRequest, caller: Caller): Promise<Mandate> {
    requireId("request_id", asked.requestId);
    requireParticipantId("payee_id", asked.payeeId);
    if (caller.participantId !== asked.payeeId) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not ask for a mandate for ${asked.payeeId}`);
    const perTransfer = requirePositiveMoney("per_transfer_limit", asked.perTransferLimit);
    const daily = requirePositiveMoney("daily_limit", asked.dailyLimit);
    const account = await findAccount(deps.store, requireId("account_id", asked.accountId));
    if (!account) throw new BankError("ACCOUNT_NOT_FOUND", `no account ${asked.accountId}`, { field: "account_id" });
    for (const [field, limit] of [["per_transfer_limit", perTransfer], ["daily_limit", daily]] as const) {
      if (limit.currency !== account.currency) throw new BankError("CURRENCY_MISMATCH", `the account is in ${account.currency}`, { field: `${field}.currency` });
    }
    const sameAs = (mandate: MandateRow) => requireSameRequest("request_id", asked.requestId, [
      ["account_id", mandate.accountId, asked.accountId], ["payee_id", mandate.payeeId, asked.payeeId],
      ["per_transfer_limit", mandate.perTransferLimitMinor, perTransfer.amountMinor], ["daily_limit", mandate.dailyLimitMinor, daily.amountMinor],
    ]);
    const existing = await findMandateByRequest(deps.store, asked.requestId);
    if (existing) {
      sameAs(existing);
      return message(existing, account);
    }
    const contact = deps.accounts.holderContact(account);
    if (contact.email === "" && contact.phone === "") {
      throw new BankError("HOLDER_UNREACHABLE", "the account holder has no e-mail address or phone number for the one-time code", { field: "account_id" });
    }
    const code = newCode();
    const { hash, salt } = await hashCode(code);
    const nowMs = deps.now();
    const mandate: MandateRow = {
      mandateId: `mdt-${newUlid(nowMs)}`, requestId: asked.requestId, accountId: account.accountId, payeeId: asked.payeeId,
      currency: account.currency, perTransferLimitMinor: perTransfer.amountMinor, dailyLimitMinor: daily.amountMinor,
      state: "PENDING_CONFIRMATION", codeHash: hash, codeSalt: salt, codeExpiresAtMs: nowMs + deps.codeTtlMs, codeAttempts: 0, createdAtMs: nowMs,
    };
    try {
      await deps.store.transaction(async (tx) => {
        await insertMandate(tx, mandate);
        await enqueueCodeNotification(tx, mandate, account, code, contact, nowMs);
      });
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await findMandateByRequest(deps.store, asked.requestId);
      if (!raced) throw error;
      sameAs(raced);
      return message(raced, account);
    }
    deps.outbox.notify();
    deps.logger.info({ mandateId: mandate.mandateId, accountId: account.accountId, payeeId: mandate.payeeId }, "mandate requested; one-time code sent");
    return message(mandate, account);
  }

  async function enqueueCodeNotification(tx: Transaction, mandate: MandateRow, account: AccountRow, code: string, contact: { email: string; phone: string }, nowMs: number): Promise<void> {
    const sealed: Record<string, string> = { code: seal(deps.notifyDataKeys, code) };
    if (contact.email !== "") sealed.email = seal(deps.notifyDataKeys, contact.email);
    if (contact.phone !== "") sealed.phone = seal(deps.notifyDataKeys, contact.phone);
    const money = (amountMinor: bigint) => toJsonString(MoneySchema, create(MoneySchema, { currency: mandate.currency, amountMinor }));
    const notification = create(NotificationRequestedSchema, {
      notificationId: `mandate-code.${mandate.mandateId}`,
      kind: MANDATE_CODE_KIND,
      channels: [...(contact.phone !== "" ? [Channel.SMS] : []), ...(contact.email !== "" ? [Channel.EMAIL] : [])],
      locale: NOTIFICATION_LOCALE,
      parameters: {
        mandate_id: mandate.mandateId, bank_id: account.bankId, payee_id: mandate.payeeId, masked_account_number: account.maskedAccountNumber,
        per_transfer_limit: money(mandate.perTransferLimitMinor), daily_limit: money(mandate.dailyLimitMinor),
        per_transfer_limit_text: `${formatMinor(mandate.perTransferLimitMinor, mandate.currency)} ${mandate.currency}`,
        daily_limit_text: `${formatMinor(mandate.dailyLimitMinor, mandate.currency)} ${mandate.currency}`,
        code_expires_at: new Date(mandate.codeExpiresAtMs).toISOString(),
      },
      sealedParameters: sealed,
      recipientHint: contact.phone !== "" ? maskPhone(contact.phone) : maskEmail(contact.email),
    });
    const envelope = buildEnvelope(deps.identity, { subject: NOTIFY_REQUESTED_SUBJECT, schema: NotificationRequestedSchema, message: notification, producedAtMs: BigInt(nowMs) });
    await enqueueEvent(tx, envelope.bytes, envelope.id, NOTIFY_REQUESTED_SUBJECT);
  }

  async function confirm(asked: ConfirmMandateRequest, caller: Caller): Promise<Mandate> {
    if (asked.code.length > MAX_CODE_CHARS) throw fieldError("code", `must be at most ${MAX_CODE_CHARS} characters`);
    const { mandate, account } = await mandateFor(asked.mandateId, caller, false);
    const nowMs = deps.now();
    requirePending(mandate.state);
    if (nowMs >= mandate.codeExpiresAtMs) {
      await deps.store.transaction((tx) => expireMandate(tx, mandate.mandateId, nowMs));
      throw codeExpired();
    }
    if (!(await codeMatches(asked.code, mandate.codeHash, mandate.codeSalt))) {
      const left = await deps.store.transaction((tx) => recordWrongCode(tx, mandate.mandateId, deps.maxCodeAttempts, deps.now()));
      if (left === undefined) return requirePendingNow(mandate.mandateId);
      deps.logger.info({ mandateId: mandate.mandateId, attemptsLeft: left }, "wrong one-time code");
      throw new BankError("MANDATE_CODE_INVALID", left > 0 ? `the code is wrong; ${left} attempts left` : "the code is wrong; no attempts left, the mandate expired",
        { field: "code", attempts_left: String(left) });
    }
    const { token, tokenHash } = newMandateToken();
    const activated = await deps.store.transaction((tx) => activateMandate(tx, mandate.mandateId, tokenHash, deps.maxCodeAttempts, deps.now()));
    if (!activated) return requirePendingNow(mandate.mandateId);
    deps.logger.info({ mandateId: mandate.mandateId }, "mandate confirmed");
    return message({ ...mandate, state: "ACTIVE" }, account, token);
  }

  /** After a lost race: answers why the mandate can no longer be confirmed. */
  async function requirePendingNow(mandateId: string): Promise<never> {
    const current = (await findMandate(deps.store, mandateId))!;
    requirePending(current.state);
    throw codeExpired();
  }

  async function revoke(asked: RevokeMandateRequest, caller: Caller): Promise<Mandate> {
    const { mandate, account } = await mandateFor(asked.mandateId, caller, true);
    const nowMs = deps.now();
    if (await deps.store.transaction((tx) => revokeMandate(tx, mandate.mandateId, nowMs))) {
      deps.logger.info({ mandateId: mandate.mandateId, by: caller.participantId }, "mandate revoked");
      return message({ ...mandate, state: "REVOKED" }, account);
    }
    return message((await findMandate(deps.store, mandate.mandateId))!, account);
  }

  return { request, confirm, revoke };
}

function requirePending(state: MandateStateText): void {
  if (state === "EXPIRED") throw codeExpired();
  if (state !== "PENDING_CONFIRMATION") throw new BankError("MANDATE_NOT_PENDING", `the mandate is ${state}, not PENDING_CONFIRMATION`, { field: "mandate_id" });
}

function codeExpired(): BankError {
  return new BankError("MANDATE_CODE_EXPIRED", "the one-time code has expired; request a new mandate", { field: "code" });
}

const MANDATE_STATES: Record<MandateStateText, MandateState> = {
  PENDING_CONFIRMATION: MandateState.PENDING_CONFIRMATION,
  ACTIVE: MandateState.ACTIVE,
  REVOKED: MandateState.REVOKED,
  EXPIRED: MandateState.EXPIRED,
};

/** A pending mandate whose code lapsed is shown EXPIRED (the row changes on the next confirm). */
export function mandateMessage(mandate: MandateRow, account: AccountRow, nowMs: number, token = ""): Mandate {
  const state = mandate.state === "PENDING_CONFIRMATION" && nowMs >= mandate.codeExpiresAtMs ? "EXPIRED" : mandate.state;
  return create(MandateSchema, {
    mandateId: mandate.mandateId, accountId: mandate.accountId, payeeId: mandate.payeeId,
    perTransferLimit: { currency: mandate.currency, amountMinor: mandate.perTransferLimitMinor },
    dailyLimit: { currency: mandate.currency, amountMinor: mandate.dailyLimitMinor },
    state: MANDATE_STATES[state], mandateToken: token, maskedAccountNumber: account.maskedAccountNumber,
    codeExpiresAt: timestampFromMs(mandate.codeExpiresAtMs),
  });
}

// Money arriving through clearing for a hosted provider (a committed transfer whose payee it
// is): the user named by the transfer's payee_reference (an alias, e-mail or E.164 phone; or,
// for a merchant's refund, the id of the payment it gives back) is
// credited what the provider received (amount − fee, or the converted amount), exactly once per
// transfer id; the clearing mirror falls by as much. A reference no active user of the provider
// holds (unknown, malformed, erased) puts the money in the provider's suspense account, one row
// per transfer with the reference masked, for operations to return or book by hand.
import type { Transfer } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Transaction } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { newUlid } from "@clearmesh/bus";
import { clearingAccount, ensureAccount, lockUser, post, suspenseAccount, userAccount } from "../books/ledger.js";
import { moneyParameter, type Notifier } from "../notifications/notify.js";
import { aliasHashes, sealPersonal } from "../users/personal.js";
import { findUserByAlias, loadUserKey } from "../users/repository.js";
import { INT64_MAX, maskAlias, normalizeAlias } from "../validation.js";
import { insertMovement } from "./movements.js";

export interface IncomingDeps {
  dataKeys: DataKeyRing;
  notifier: Notifier;
  logger: Logger;
  now: () => number;
}

export type SuspenseReason = "UNKNOWN_ALIAS" | "BALANCE_OVERFLOW";

/** Credits a committed transfer to the provider's user named by payee_reference, or to suspense. */
export async function creditIncoming(deps: IncomingDeps, tx: Transaction, transfer: Transfer): Promise<void> {
  const providerId = transfer.payeeId;
  const received = transfer.payeeAmount && transfer.payeeAmount.currency !== ""
    ? transfer.payeeAmount
    : { currency: transfer.amount?.currency ?? "", amountMinor: (transfer.amount?.amountMinor ?? 0n) - (transfer.fee?.amountMinor ?? 0n) };
  if (received.amountMinor <= 0n || received.currency === "") return;
  const user = await userOfReference(deps, tx, providerId, transfer.payeeReference);
  if (!user) return suspend(deps, tx, transfer, received, "UNKNOWN_ALIAS");
  const status = await lockUser(tx, user.userId);
  if (status?.status !== "active") return suspend(deps, tx, transfer, received, "UNKNOWN_ALIAS");
  const account = userAccount(providerId, user.userId, received.currency);
  await ensureAccount(tx, account);
  // Credits to this user are serialised by the lock above, so the bound read here holds.
  const [row] = await tx.query<{ balance_minor: bigint }>("SELECT balance_minor FROM accounts WHERE account_id = $1", [account.accountId]);
  if (!row || row.balance_minor > INT64_MAX - received.amountMinor) return suspend(deps, tx, transfer, received, "BALANCE_OVERFLOW");
  const movementId = `mv_${newUlid()}`;
  const nowMs = deps.now();
  const inserted = await insertMovement(tx, {
    movementId, providerId, userId: user.userId, kind: "received", state: "completed", currency: received.currency, amountMinor: received.amountMinor,
    counterpartySealed: user.key ? sealPersonal(user.key, transfer.payerId) : null, counterpartyProviderId: transfer.payerId,
    transferId: transfer.transferId, nowMs,
  });
  if (!inserted) return;
  const mirror = clearingAccount(providerId, received.currency);
  await ensureAccount(tx, mirror);
  const posted = await post(tx, movementId, [
    { accountId: account.accountId, amountMinor: received.amountMinor },
    { accountId: mirror.accountId, amountMinor: -received.amountMinor },
  ], nowMs);
  if (!posted.ok) throw new Error(`books invariant: incoming ${transfer.transferId} refused on ${posted.accountId} (${posted.problem})`);
  await deps.notifier.notify(tx, {
    notificationId: `${movementId}.done`, userId: user.userId, kind: user.refund ? "payment.refunded" : "transfer.received",
    parameters: { amount: moneyParameter(received.currency, received.amountMinor), ...(user.refund ? { merchant: transfer.payerId } : { sender: transfer.payerId }) },
  });
  deps.logger.info({ transferId: transfer.transferId, providerId, userId: user.userId, amountMinor: String(received.amountMinor) }, "incoming transfer credited");
}

async function userOfReference(deps: IncomingDeps, tx: Transaction, providerId: string, reference: string): Promise<{ userId: string; key?: DataKeyRing; refund?: boolean } | undefined> {
  // A refund names the payment it gives back (its payer_reference, the movement id).
  if (reference.startsWith("mv_")) {
    const [payment] = await tx.query<{ user_id: string }>("SELECT user_id FROM movements WHERE movement_id = $1 AND provider_id = $2 AND kind = 'payment'", [reference, providerId]);
    return payment ? { userId: payment.user_id, key: await loadUserKey(tx, deps.dataKeys, payment.user_id), refund: true } : undefined;
  }
  let alias: ReturnType<typeof normalizeAlias>;
  try {
    alias = normalizeAlias("payee_reference", reference);
  } catch {
    return undefined;
  }
  const user = await findUserByAlias(tx, providerId, alias.kind === "email" ? "email_hash" : "phone_hash", aliasHashes(deps.dataKeys, alias.kind, alias.alias));
  if (!user) return undefined;
  return { userId: user.user_id, key: await loadUserKey(tx, deps.dataKeys, user.user_id) };
}

async function suspend(deps: IncomingDeps, tx: Transaction, transfer: Transfer, received: { currency: string; amountMinor: bigint }, reason: SuspenseReason): Promise<void> {
  const providerId = transfer.payeeId;
  const maskedReference = transfer.payeeReference.includes("@") || transfer.payeeReference.startsWith("+") ? maskAlias(transfer.payeeReference) : "****";
  const nowMs = deps.now();
  const { changes } = await tx.execute(
    "INSERT INTO suspense_items (transfer_id, provider_id, currency, amount_minor, reason, masked_reference, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (transfer_id) DO NOTHING",
    [transfer.transferId, providerId, received.currency, received.amountMinor, reason, maskedReference, BigInt(nowMs)],
  );
  if (changes !== 1) return;
  const suspense = suspenseAccount(providerId, received.currency);
  const mirror = clearingAccount(providerId, received.currency);
  await ensureAccount(tx, suspense);
  await ensureAccount(tx, mirror);
  const posted = await post(tx, `suspense:${transfer.transferId}`, [
    { accountId: suspense.accountId, amountMinor: received.amountMinor },
    { accountId: mirror.accountId, amountMinor: -received.amountMinor },
  ], nowMs);
  if (!posted.ok) throw new Error(`books invariant: suspense of ${transfer.transferId} refused on ${posted.accountId} (${posted.problem})`);
  deps.logger.warn({ transferId: transfer.transferId, providerId, payeeReference: maskedReference, reason, amountMinor: String(received.amountMinor) }, "incoming money kept in suspense");
}

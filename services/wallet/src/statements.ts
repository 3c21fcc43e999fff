// What a user reads: balances per currency, and transactions newest first, paged by a token that
// names the last transaction of the page, filterable by date and currency.
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import {
  GetBalancesResponseSchema, ListTransactionsResponseSchema,
  type GetBalancesResponse, type ListTransactionsRequest, type ListTransactionsResponse, type WalletTransaction,
} from "@clearmesh/contracts";
import type { SqlValue, Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { userAccounts } from "./books/ledger.js";
import { WalletError, invalidField } from "./errors.js";
import { findMovement, transactionView, type MovementRow } from "./payments/movements.js";
import { loadUserKey } from "./users/repository.js";
import type { Session } from "./users/service.js";
import { pageLimit, requireCurrency, requireId } from "./validation.js";

export async function balances(store: Store, session: Session): Promise<GetBalancesResponse> {
  const accounts = await userAccounts(store, session.userId);
  const wallets = accounts.map((account) => ({
    balance: { currency: account.currency, amountMinor: account.balance_minor },
    held: { currency: account.currency, amountMinor: account.held_minor },
    available: { currency: account.currency, amountMinor: account.balance_minor - account.held_minor },
  }));
  return create(GetBalancesResponseSchema, { balances: wallets.map((wallet) => wallet.available), wallets });
}

export async function listTransactions(store: Store, dataKeys: DataKeyRing, session: Session, request: ListTransactionsRequest): Promise<ListTransactionsResponse> {
  const limit = pageLimit(request.page?.pageSize);
  const params: SqlValue[] = [session.userId];
  const where = ["user_id = $1"];
  const add = (clause: string, ...values: SqlValue[]) => {
    let text = clause;
    for (const value of values) {
      params.push(value);
      text = text.replace("?", `$${params.length}`);
    }
    where.push(text);
  };
  if (request.currency !== "") add("currency = ?", requireCurrency("currency", request.currency));
  if (request.createdFrom) add("created_at_ms >= ?", timestampMs(request.createdFrom));
  if (request.createdTo) add("created_at_ms < ?", timestampMs(request.createdTo));
  const after = decodeToken(request.page?.pageToken ?? "");
  if (after) add("(created_at_ms < ? OR (created_at_ms = ? AND movement_id < ?))", after.createdAtMs, after.createdAtMs, after.movementId);
  params.push(BigInt(limit + 1));
  const rows = await store.query<MovementRow>(
    `SELECT * FROM movements WHERE ${where.join(" AND ")} ORDER BY created_at_ms DESC, movement_id DESC LIMIT $${params.length}`, params);
  const page = rows.slice(0, limit);
  const key = await loadUserKey(store, dataKeys, session.userId);
  const last = page[page.length - 1];
  const nextPageToken = rows.length > limit && last ? Buffer.from(`m1:${last.created_at_ms}:${last.movement_id}`).toString("base64url") : "";
  return create(ListTransactionsResponseSchema, { transactions: page.map((row) => transactionView(row, key)), page: { nextPageToken } });
}

export async function getTransaction(store: Store, dataKeys: DataKeyRing, session: Session, transactionId: string): Promise<WalletTransaction> {
  const row = await findMovement(store, requireId("transaction_id", transactionId));
  if (!row || row.user_id !== session.userId) throw new WalletError("TRANSACTION_NOT_FOUND", "no such transaction of yours", { field: "transaction_id" });
  return transactionView(row, await loadUserKey(store, dataKeys, session.userId));
}

function decodeToken(token: string): { createdAtMs: bigint; movementId: string } | undefined {
  if (token === "") return undefined;
  const match = /^m1:(\d{1,16}):([A-Za-z0-9_]{1,64})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match) throw invalidField("page.page_token", "is not a token this server issued");
  return { createdAtMs: BigInt(match[1]!), movementId: match[2]! };
}

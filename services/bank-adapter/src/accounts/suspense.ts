// The suspense book: money a hosted bank received through clearing for no account it could
// credit (transfers/consumers.ts puts it there). Operations list it and book each posting to a
// customer account of the same bank and currency, once: the posting is marked resolved and the
// account credited (posting key `suspense:<transfer id>`) in one transaction, the mark being a
// conditional update, so two resolutions of one posting never both credit.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ListSuspensePostingsResponseSchema, SuspensePostingSchema, type ListSuspensePostingsRequest, type ListSuspensePostingsResponse,
  type ResolveSuspensePostingRequest, type SuspensePosting,
} from "@clearmesh/contracts";
import { pageToken, type Caller } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { BankError } from "../errors.js";
import { pageAfter, pageLimit, requireId, requireParticipantId } from "../validation.js";
import { credit, findSuspense, listSuspense, resolveSuspense, type SuspenseRow } from "./repository.js";
import { OPERATOR, type AccountService } from "./service.js";

export interface SuspenseServiceDeps {
  store: Store;
  accounts: AccountService;
  hostedBanks: ReadonlySet<string>;
  now: () => number;
}

export type SuspenseService = ReturnType<typeof createSuspenseService>;

export function createSuspenseService(deps: SuspenseServiceDeps) {
  const mayManage = (caller: Caller, bankId: string) => caller.participantId === bankId || caller.participantId === OPERATOR;

  async function list(request: ListSuspensePostingsRequest, caller: Caller): Promise<ListSuspensePostingsResponse> {
    const bankId = requireParticipantId("bank_id", request.bankId);
    if (!deps.hostedBanks.has(bankId)) throw new BankError("BANK_NOT_HOSTED", `${bankId} is not a bank this adapter hosts`, { field: "bank_id" });
    if (!mayManage(caller, bankId)) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not read the suspense book of ${bankId}`);
    const limit = pageLimit(request.page?.pageSize);
    const [afterTransferId = ""] = pageAfter(request.page?.pageToken ?? "", 1) ?? [];
    const rows = await listSuspense(deps.store, bankId, { includeResolved: request.includeResolved, afterTransferId, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const nextPageToken = rows.length > limit ? pageToken([page.at(-1)!.transferId]) : "";
    return create(ListSuspensePostingsResponseSchema, { postings: page.map(suspenseMessage), page: { nextPageToken } });
  }

  async function resolve(request: ResolveSuspensePostingRequest, caller: Caller): Promise<SuspensePosting> {
    const transferId = requireId("transfer_id", request.transferId);
    const accountId = requireId("account_id", request.accountId);
    const posting = await findSuspense(deps.store, transferId);
    if (!posting) throw new BankError("SUSPENSE_NOT_FOUND", `no suspense posting for transfer ${transferId}`, { field: "transfer_id" });
    if (!mayManage(caller, posting.bankId)) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not book the suspense of ${posting.bankId}`);
    if (posting.resolvedAccountId !== "") return resolvedAnswer(posting, accountId);
    const account = await deps.accounts.accountFor(deps.store, accountId, caller, "book suspense to");
    if (account.bankId !== posting.bankId) {
      throw new BankError("INVALID_ARGUMENT", `account_id is an account of ${account.bankId}; the money was received by ${posting.bankId}`, { field: "account_id" });
    }
    if (account.currency !== posting.currency) {
      throw new BankError("CURRENCY_MISMATCH", `the account is in ${account.currency}; the posting is in ${posting.currency}`, { field: "account_id" });
    }
    const outcome = await deps.store.transaction(async (tx): Promise<"booked" | "raced"> => {
      const nowMs = deps.now();
      if (!(await resolveSuspense(tx, transferId, accountId, nowMs))) return "raced";
      const credited = await credit(tx, {
        accountId, postingKey: `suspense:${transferId}`, kind: "SUSPENSE_BOOKED", amountMinor: posting.amountMinor, endToEndId: transferId, nowMs,
      });
      // Thrown inside the transaction: the posting stays open.
      if (credited.kind === "overflow") throw new BankError("AMOUNT_OVERFLOW", "the account's balance would exceed int64", { field: "account_id" });
      if (credited.kind === "duplicate") throw new Error(`suspense:${transferId} was credited while the posting was open`);
      return "booked";
    });
    const current = (await findSuspense(deps.store, transferId))!;
    return outcome === "booked" ? suspenseMessage(current) : resolvedAnswer(current, accountId);
  }

  return { list, resolve };
}

/** A resolved posting answers a repeat with the same account; another account is refused. */
function resolvedAnswer(posting: SuspenseRow, accountId: string): SuspensePosting {
  if (posting.resolvedAccountId !== accountId) {
    throw new BankError("SUSPENSE_ALREADY_RESOLVED", `the posting of transfer ${posting.transferId} was booked to another account`, { field: "transfer_id" });
  }
  return suspenseMessage(posting);
}

function suspenseMessage(row: SuspenseRow): SuspensePosting {
  return create(SuspensePostingSchema, {
    transferId: row.transferId, bankId: row.bankId, payerId: row.payerId, amount: { currency: row.currency, amountMinor: row.amountMinor }, reason: row.reason,
    maskedPayeeReference: row.maskedPayeeReference, bookedAt: timestampFromMs(row.bookedAtMs), resolvedAccountId: row.resolvedAccountId,
    ...(row.resolvedAtMs === null ? {} : { resolvedAt: timestampFromMs(row.resolvedAtMs) }),
  });
}

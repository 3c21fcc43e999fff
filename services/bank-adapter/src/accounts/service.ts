// Customer accounts: open, deposit cash, read, and statements. The account number is made here
// (numbers.ts), sealed with the data key and shown only masked; the holder's name, e-mail address
// and phone number are sealed too. Reads and deposits are for the account's bank or the operator.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { newUlid } from "@clearmesh/bus";
import {
  AccountSchema, PostingDirection, StatementFormat, StatementSchema, type Account, type DepositCashRequest, type GetAccountRequest,
  type GetStatementRequest, type OpenAccountRequest, type Statement,
} from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import { UniqueViolationError, type Queryable, type Store } from "@clearmesh/store";
import { maskAccountNumber, seal, sha256, toHex, unsealText, utf8, type DataKeyRing } from "@clearmesh/trust";
import { BankError, fieldError } from "../errors.js";
import { requireSameRequest } from "../idempotency.js";
import { CAMT053_CONTENT_TYPE, statementCamt053 } from "../statements/camt053.js";
import { CSV_CONTENT_TYPE, statementCsv } from "../statements/csv.js";
import type { StatementData } from "../statements/model.js";
import {
  MAX_NAME_CHARS, optionalTimestampMs, requireCurrency, requireEmail, requireId, requireParticipantId, requirePhone,
  requirePositiveMoney, requireText,
} from "../validation.js";
import { accountNumber } from "./numbers.js";
import {
  balanceBefore, credit, findAccount, findAccountByRequest, findPostingByKey, insertAccount, nextAccountSequence, postingsBetween,
  type AccountRow,
} from "./repository.js";

export const OPERATOR = "operator";
/** Postings one statement may carry; a longer period gets STATEMENT_TOO_LARGE (ask for a shorter one). */
export const MAX_STATEMENT_ENTRIES = 5_000;

export interface AccountServiceDeps {
  store: Store;
  dataKeys: DataKeyRing;
  hostedBanks: ReadonlySet<string>;
  now: () => number;
  logger: Logger;
}

export type AccountService = ReturnType<typeof createAccountService>;

export function createAccountService(deps: AccountServiceDeps) {
  const sealOptional = (value: string) => (value === "" ? "" : seal(deps.dataKeys, value));
  const unsealOptional = (value: string) => (value === "" ? "" : unsealText(deps.dataKeys, value));

  /** The account, if the caller is its bank or the operator. */
  async function accountFor(db: Queryable, accountId: string, caller: Caller, what: string): Promise<AccountRow> {
    const account = await findAccount(db, requireId("account_id", accountId));
    if (!account) throw new BankError("ACCOUNT_NOT_FOUND", `no account ${accountId}`, { field: "account_id" });
    if (caller.participantId !== account.bankId && caller.participantId !== OPERATOR) {
      throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not ${what} this account`);
    }
    return account;
  }

  function requireSameOpening(account: AccountRow, request: OpenAccountRequest): void {
    requireSameRequest("request_id", request.requestId, [
      ["bank_id", account.bankId, request.bankId],
      ["currency", account.currency, request.currency],
      ["holder_name", unsealText(deps.dataKeys, account.holderNameSealed), request.holderName],
      ["holder_email", unsealOptional(account.holderEmailSealed), request.holderEmail],
      ["holder_phone", unsealOptional(account.holderPhoneSealed), request.holderPhone],
    ]);
  }

  async function open(request: OpenAccountRequest, caller: Caller): Promise<Account> {
    requireId("request_id", request.requestId);
    requireParticipantId("bank_id", request.bankId);
    if (caller.participantId !== request.bankId && caller.participantId !== OPERATOR) {
      throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not open accounts at ${request.bankId}`);
    }
    if (!deps.hostedBanks.has(request.bankId)) throw new BankError("BANK_NOT_HOSTED", `${request.bankId} is not a bank this adapter hosts`, { field: "bank_id" });
    requireText("holder_name", request.holderName, MAX_NAME_CHARS, true);
    requireCurrency("currency", request.currency);
    requireEmail("holder_email", request.holderEmail);
    requirePhone("holder_phone", request.holderPhone);
    const existing = await findAccountByRequest(deps.store, request.requestId);
    if (existing) {
      requireSameOpening(existing, request);
      return accountMessage(existing);
    }
    const nowMs = deps.now();
    try {
      const account = await deps.store.transaction(async (tx) => {
        const number = accountNumber(request.bankId, await nextAccountSequence(tx, request.bankId));
        const row = {
          accountId: `acc-${newUlid(nowMs)}`, bankId: request.bankId, requestId: request.requestId, openedBy: caller.participantId,
          currency: request.currency, accountNumberSealed: seal(deps.dataKeys, number), maskedAccountNumber: maskAccountNumber(number),
          holderNameSealed: seal(deps.dataKeys, request.holderName), holderEmailSealed: sealOptional(request.holderEmail),
          holderPhoneSealed: sealOptional(request.holderPhone), createdAtMs: nowMs,
        };
        await insertAccount(tx, row);
        return { ...row, balanceMinor: 0n, heldMinor: 0n };
      });
      deps.logger.info({ accountId: account.accountId, bankId: account.bankId, maskedAccountNumber: account.maskedAccountNumber }, "account opened");
      return accountMessage(account);
    } catch (error) {
      // A racing repeat of the same request_id won: answer what it made.
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await findAccountByRequest(deps.store, request.requestId);
      if (!raced) throw error;
      requireSameOpening(raced, request);
      return accountMessage(raced);
    }
  }

  async function deposit(request: DepositCashRequest, caller: Caller): Promise<Account> {
    requireId("request_id", request.requestId);
    const amount = requirePositiveMoney("amount", request.amount);
    const account = await accountFor(deps.store, request.accountId, caller, "deposit to");
    if (amount.currency !== account.currency) {
      throw new BankError("CURRENCY_MISMATCH", `the account is in ${account.currency}`, { field: "amount.currency" });
    }
    const postingKey = `deposit:${request.requestId}`;
    const requireSameDeposit = async () => {
      const posting = await findPostingByKey(deps.store, postingKey);
      if (!posting) return false;
      requireSameRequest("request_id", request.requestId, [["account_id", posting.accountId, account.accountId], ["amount", posting.amountMinor, amount.amountMinor]]);
      return true;
    };
    if (!(await requireSameDeposit())) {
      const outcome = await deps.store.transaction((tx) => credit(tx, {
        accountId: account.accountId, postingKey, kind: "CASH_DEPOSIT", amountMinor: amount.amountMinor, endToEndId: request.requestId, nowMs: deps.now(),
      }));
      if (outcome.kind === "overflow") throw new BankError("AMOUNT_OVERFLOW", "the balance would exceed int64", { field: "amount.amount_minor" });
      if (outcome.kind === "duplicate") await requireSameDeposit();
    }
    return accountMessage((await findAccount(deps.store, account.accountId))!);
  }

  async function get(request: GetAccountRequest, caller: Caller): Promise<Account> {
    return accountMessage(await accountFor(deps.store, request.accountId, caller, "read"));
  }

  async function statement(request: GetStatementRequest, caller: Caller): Promise<Statement> {
    const account = await accountFor(deps.store, request.accountId, caller, "read");
    if (!(request.format in StatementFormat)) throw fieldError("format", "is not a statement format");
    const nowMs = deps.now();
    const askedFromMs = optionalTimestampMs("from", request.from);
    const toMs = optionalTimestampMs("to", request.to) ?? nowMs + 1;
    const fromMs = askedFromMs ?? 0;
    if (fromMs >= toMs) throw fieldError("to", "must be after from");
    const entries = await postingsBetween(deps.store, account.accountId, fromMs, toMs, MAX_STATEMENT_ENTRIES + 1);
    if (entries.length > MAX_STATEMENT_ENTRIES) {
      throw new BankError("STATEMENT_TOO_LARGE", `the period holds more than ${MAX_STATEMENT_ENTRIES} postings; ask for a shorter one`, { field: "to" });
    }
    const openingMinor = await balanceBefore(deps.store, account.accountId, fromMs);
    const closingMinor = entries.at(-1)?.balanceAfterMinor ?? openingMinor;
    assertStatementBalances(account.accountId, openingMinor, entries, closingMinor);
    const data: StatementData = {
      statementId: statementId(account.accountId, fromMs, toMs), messageId: newUlid(nowMs), createdAtMs: nowMs,
      accountId: account.accountId, maskedAccountNumber: account.maskedAccountNumber, bankId: account.bankId, currency: account.currency,
      fromMs: askedFromMs ?? Math.min(account.createdAtMs, entries[0]?.bookedAtMs ?? account.createdAtMs), toMs, openingMinor, closingMinor, entries,
    };
    return create(StatementSchema, {
      accountId: account.accountId, maskedAccountNumber: account.maskedAccountNumber,
      openingBalance: { currency: account.currency, amountMinor: openingMinor },
      closingBalance: { currency: account.currency, amountMinor: closingMinor },
      entries: entries.map((entry) => ({
        entryId: entry.postingId, direction: entry.direction === "CREDIT" ? PostingDirection.CREDIT : PostingDirection.DEBIT, amount: { currency: account.currency, amountMinor: entry.amountMinor },
        bookedAt: timestampFromMs(entry.bookedAtMs), endToEndId: entry.endToEndId, description: entry.description,
        balanceAfter: { currency: account.currency, amountMinor: entry.balanceAfterMinor },
      })),
      ...documentOf(request.format, data),
    });
  }

  return {
    open, deposit, get, statement, accountFor,
    /** The holder's contact details, unsealed, for one-time codes. */
    holderContact(account: AccountRow): { email: string; phone: string } {
      return { email: unsealOptional(account.holderEmailSealed), phone: unsealOptional(account.holderPhoneSealed) };
    },
  };
}

export function accountMessage(account: AccountRow): Account {
  return create(AccountSchema, {
    accountId: account.accountId, bankId: account.bankId, maskedAccountNumber: account.maskedAccountNumber, currency: account.currency,
    balance: { currency: account.currency, amountMinor: account.balanceMinor },
    held: { currency: account.currency, amountMinor: account.heldMinor },
    createdAt: timestampFromMs(account.createdAtMs),
  });
}

function documentOf(format: StatementFormat, data: StatementData): { contentType: string; document: Uint8Array } | Record<string, never> {
  if (format === StatementFormat.CSV) return { contentType: CSV_CONTENT_TYPE, document: utf8(statementCsv(data)) };
  if (format === StatementFormat.CAMT053) return { contentType: CAMT053_CONTENT_TYPE, document: utf8(statementCamt053(data)) };
  return {};
}

/** Stmt/Id: the same for the same account and period (32 hex characters, within Max35Text). */
function statementId(accountId: string, fromMs: number, toMs: number): string {
  return toHex(sha256(utf8(`${accountId}|${fromMs}|${toMs}`))).slice(0, 32);
}

/** opening + credits - debits = closing, or the postings are not the account's history. */
function assertStatementBalances(accountId: string, openingMinor: bigint, entries: readonly { direction: string; amountMinor: bigint; balanceAfterMinor: bigint }[], closingMinor: bigint): void {
  let running = openingMinor;
  for (const entry of entries) {
    running += entry.direction === "CREDIT" ? entry.amountMinor : -entry.amountMinor;
    if (running !== entry.balanceAfterMinor) throw new Error(`postings of ${accountId} do not add up at ${entry.balanceAfterMinor}`);
  }
  if (running !== closingMinor) throw new Error(`postings of ${accountId} do not reach the closing balance`);
}

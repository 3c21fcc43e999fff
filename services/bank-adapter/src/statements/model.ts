// A statement as the documents see it: pure data, built by the accounts service from postings.
import type { PostingKind, PostingDirectionText } from "../accounts/repository.js";

export interface StatementEntryData {
  postingId: string;
  kind: PostingKind;
  direction: PostingDirectionText;
  amountMinor: bigint;
  balanceAfterMinor: bigint;
  bookedAtMs: number;
  endToEndId: string;
  description: string;
}

export interface StatementData {
  /** Stable for the same account and period (camt.053 Stmt/Id). */
  statementId: string;
  /** New for every document (camt.053 GrpHdr/MsgId). */
  messageId: string;
  createdAtMs: number;
  accountId: string;
  maskedAccountNumber: string;
  bankId: string;
  currency: string;
  /** The period [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  openingMinor: bigint;
  closingMinor: bigint;
  entries: readonly StatementEntryData[];
}

/** 2024-05-01T12:00:00.000Z */
export function isoDateTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** 2024-05-01 (UTC) */
export function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

// Checks of request fields that several services share word for word, so a partner meets one
// rule and one message everywhere: ids, currencies, positive int64 money, and the alias rule
// (E.164 phone number as is, e-mail address lower-cased) that clearing's party lookup and the
// wallets must apply identically, and paging (common.proto's PageRequest). Each service passes its
// own typed INVALID_ARGUMENT error.
import type { Money } from "@clearmesh/contracts";
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
export const INT64_MAX = 2n ** 63n - 1n;
/** E.164: a plus, a country code not starting with 0, 7 to 15 digits in all. */
export const PHONE_PATTERN = /^\+[1-9]\d{6,14}$/;
/** A practical e-mail address: a dot-atom local part, a domain of DNS labels with a dot. */
const EMAIL_PATTERN = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
/** PageRequest.page_size 0 means this many items (common.proto). */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
const PAGE_TOKEN_PREFIX = "p1:";
const MAX_EMAIL_CHARS = 254;
const MAX_LOCAL_PART_CHARS = 64;

/** Builds a service's INVALID_ARGUMENT error naming the field (never echoing its value). */
export type InvalidField = (field: string, message: string) => Error;

export interface FieldChecks {
  requireId(field: string, value: string): string;
  /** A participant id: [a-z0-9][a-z0-9-]{2,31} (PROTOCOL §3). */
  requireParticipantId(field: string, value: string): string;
  /** Text without control characters (C0 and DEL), at most maxChars long; required = not blank. */
  requireText(field: string, value: string, maxChars: number, required?: boolean): string;
  requireCurrency(field: string, value: string): string;
  /** A positive amount that fits int64. */
  requirePositiveMoney(field: string, money: Money | undefined): { currency: string; amountMinor: bigint };
  /** Items a page holds: `page.page_size`, DEFAULT_PAGE_SIZE for 0, at most MAX_PAGE_SIZE. */
  pageLimit(pageSize: number | undefined): number;
  /** The sort key a `page.page_token` from pageToken() carries (`parts` values), undefined for the first page. */
  pageAfter(token: string, parts: number): string[] | undefined;
}

/** An opaque page token carrying the last item's sort key. */
export function pageToken(parts: readonly string[]): string {
  return Buffer.from(`${PAGE_TOKEN_PREFIX}${parts.join("\u0000")}`).toString("base64url");
}

export function fieldChecks(invalid: InvalidField): FieldChecks {
  const requireCurrency = (field: string, value: string): string => {
    if (!CURRENCY_PATTERN.test(value)) throw invalid(field, "must be an ISO 4217 code of three upper-case letters");
    return value;
  };
  return {
    requireId(field, value) {
      if (!ID_PATTERN.test(value)) throw invalid(field, "must be 1-64 characters of [A-Za-z0-9._:-] (a UUID or ULID)");
      return value;
    },
    requireParticipantId(field, value) {
      if (!PARTICIPANT_ID_PATTERN.test(value)) throw invalid(field, "must match [a-z0-9][a-z0-9-]{2,31}");
      return value;
    },
    requireText(field, value, maxChars, required = false) {
      if (required && value.trim().length === 0) throw invalid(field, "is required");
      if (value.length > maxChars) throw invalid(field, `must be at most ${maxChars} characters`);
      if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid(field, "must not contain control characters");
      return value;
    },
    requireCurrency,
    requirePositiveMoney(field, money) {
      if (!money) throw invalid(field, "is required");
      const currency = requireCurrency(`${field}.currency`, money.currency);
      if (money.amountMinor <= 0n) throw invalid(`${field}.amount_minor`, "must be positive");
      if (money.amountMinor > INT64_MAX) throw invalid(`${field}.amount_minor`, "exceeds int64");
      return { currency, amountMinor: money.amountMinor };
    },
    pageLimit(pageSize) {
      const size = pageSize ?? 0;
      if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) throw invalid("page.page_size", `must be 0 to ${MAX_PAGE_SIZE}`);
      return size === 0 ? DEFAULT_PAGE_SIZE : size;
    },
    pageAfter(token, parts) {
      if (token === "") return undefined;
      const text = Buffer.from(token, "base64url").toString("utf8");
      const values = text.startsWith(PAGE_TOKEN_PREFIX) ? text.slice(PAGE_TOKEN_PREFIX.length).split("\u0000") : [];
      if (values.length !== parts) throw invalid("page.page_token", "is not a token this server issued");
      return values;
    },
  };
}

/** The e-mail address lower-cased, or undefined when `value` is not one. */
export function normalizedEmail(value: string): string | undefined {
  const lower = value.toLowerCase();
  const at = lower.indexOf("@");
  return lower.length <= MAX_EMAIL_CHARS && at > 0 && at <= MAX_LOCAL_PART_CHARS && EMAIL_PATTERN.test(lower) ? lower : undefined;
}

export type AliasKind = "email" | "phone";

/** An alias as clearing stores it (an E.164 number as is, an e-mail lower-cased), or undefined. */
export function aliasOf(value: string): { alias: string; kind: AliasKind } | undefined {
  if (PHONE_PATTERN.test(value)) return { alias: value, kind: "phone" };
  const email = normalizedEmail(value);
  return email === undefined ? undefined : { alias: email, kind: "email" };
}

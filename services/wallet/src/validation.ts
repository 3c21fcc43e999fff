// Pure checks of request fields: ids, money, aliases (e-mail, E.164 phone), names, pages.
// Messages name the field and never echo a value that may be personal.
import type { Money } from "@clearmesh/contracts";
import { maskEmail, maskPhone } from "@clearmesh/trust";
import { invalidField } from "./errors.js";

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
export const INT64_MAX = 2n ** 63n - 1n;
/** E.164: a plus, a country code not starting with 0, 7 to 15 digits in all (as clearing). */
export const PHONE_PATTERN = /^\+[1-9]\d{6,14}$/;
const EMAIL_PATTERN = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const MAX_EMAIL_CHARS = 254;
const MAX_LOCAL_PART_CHARS = 64;
export const MAX_DISPLAY_NAME_CHARS = 100;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function requireId(field: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw invalidField(field, "must be 1-64 characters of [A-Za-z0-9._:-] (a UUID or ULID)");
  return value;
}

export function requireCurrency(field: string, value: string): string {
  if (!CURRENCY_PATTERN.test(value)) throw invalidField(field, "must be an ISO 4217 code of three upper-case letters");
  return value;
}

/** A positive amount that fits int64. */
export function requirePositiveMoney(field: string, money: Money | undefined): { currency: string; amountMinor: bigint } {
  if (!money) throw invalidField(field, "is required");
  const currency = requireCurrency(`${field}.currency`, money.currency);
  if (money.amountMinor <= 0n) throw invalidField(`${field}.amount_minor`, "must be positive");
  if (money.amountMinor > INT64_MAX) throw invalidField(`${field}.amount_minor`, "exceeds int64");
  return { currency, amountMinor: money.amountMinor };
}

/** A normalised e-mail address (lower-cased), or INVALID_ARGUMENT naming the field. */
export function normalizeEmail(field: string, value: string): string {
  const lower = value.trim().toLowerCase();
  const at = lower.indexOf("@");
  if (lower.length <= MAX_EMAIL_CHARS && at > 0 && at <= MAX_LOCAL_PART_CHARS && EMAIL_PATTERN.test(lower)) return lower;
  throw invalidField(field, "must be an e-mail address");
}

export function requirePhone(field: string, value: string): string {
  if (!PHONE_PATTERN.test(value)) throw invalidField(field, "must be an E.164 phone number (+ and 7 to 15 digits)");
  return value;
}

export type AliasKind = "email" | "phone";

/** An alias as clearing stores it: an E.164 number as is, an e-mail address lower-cased. */
export function normalizeAlias(field: string, value: string): { alias: string; kind: AliasKind } {
  if (PHONE_PATTERN.test(value)) return { alias: value, kind: "phone" };
  try {
    return { alias: normalizeEmail(field, value), kind: "email" };
  } catch {
    throw invalidField(field, "must be an E.164 phone number or an e-mail address");
  }
}

/** The alias as logs, messages and statements may show it. */
export function maskAlias(alias: string): string {
  return alias.startsWith("+") ? maskPhone(alias) : maskEmail(alias);
}

export function requireDisplayName(field: string, value: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw invalidField(field, "is required");
  if (trimmed.length > MAX_DISPLAY_NAME_CHARS) throw invalidField(field, `must be at most ${MAX_DISPLAY_NAME_CHARS} characters`);
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw invalidField(field, "must not contain control characters");
  return trimmed;
}

export function pageSizeOf(pageSize: number | undefined): number {
  const size = pageSize ?? 0;
  if (size < 0 || size > MAX_PAGE_SIZE) throw invalidField("page.page_size", `must be 0 to ${MAX_PAGE_SIZE}`);
  return size === 0 ? DEFAULT_PAGE_SIZE : size;
}

// Pure checks of request fields shared by the bank's handlers; each refusal names the field.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Money } from "@clearmesh/contracts";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";
import { fieldError } from "./errors.js";

/** Client-chosen ids (PROTOCOL.md §9): UUID or ULID text. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
export const INT64_MAX = 2n ** 63n - 1n;
/** Clearing's limit on payer and payee references. */
export const MAX_REFERENCE_CHARS = 128;
export const MAX_NAME_CHARS = 140;
const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;
const MAX_EMAIL_CHARS = 254;
const E164_PATTERN = /^\+[1-9]\d{6,14}$/;

export interface Amount {
  currency: string;
  amountMinor: bigint;
}

export function requireId(field: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw fieldError(field, "must be 1-64 characters of [A-Za-z0-9._:-] (a UUID or ULID)");
  return value;
}

export function requireParticipantId(field: string, value: string): string {
  if (!PARTICIPANT_ID_PATTERN.test(value)) throw fieldError(field, "must match [a-z0-9][a-z0-9-]{2,31}");
  return value;
}

export function requireCurrency(field: string, value: string): string {
  if (!CURRENCY_PATTERN.test(value)) throw fieldError(field, "must be an ISO 4217 code of three upper-case letters");
  return value;
}

/** Text without control characters, at most maxChars long; required = not blank. */
export function requireText(field: string, value: string, maxChars: number, required = false): string {
  if (required && value.trim().length === 0) throw fieldError(field, "is required");
  if (value.length > maxChars) throw fieldError(field, `must be at most ${maxChars} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw fieldError(field, "must not contain control characters");
  return value;
}

/** A positive amount that fits int64, optionally in a given currency (CURRENCY_MISMATCH otherwise). */
export function requirePositiveMoney(field: string, money: Money | undefined): Amount {
  if (!money) throw fieldError(field, "is required");
  const currency = requireCurrency(`${field}.currency`, money.currency);
  if (money.amountMinor <= 0n) throw fieldError(`${field}.amount_minor`, "must be positive");
  if (money.amountMinor > INT64_MAX) throw fieldError(`${field}.amount_minor`, "exceeds int64");
  return { currency, amountMinor: money.amountMinor };
}

/** An e-mail address (empty allowed when optional); never echoed in the error. */
export function requireEmail(field: string, value: string): string {
  if (value === "") return value;
  if (value.length > MAX_EMAIL_CHARS || !EMAIL_PATTERN.test(value)) throw fieldError(field, "must be an e-mail address");
  return value;
}

/** An E.164 phone number (empty allowed); never echoed in the error. */
export function requirePhone(field: string, value: string): string {
  if (value === "") return value;
  if (!E164_PATTERN.test(value)) throw fieldError(field, "must be an E.164 number like +15551234567");
  return value;
}

/** Milliseconds of a timestamp, or undefined when unset; refuses values outside the safe range. */
export function optionalTimestampMs(field: string, value: Timestamp | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = timestampMs(value);
  if (!Number.isSafeInteger(ms) || ms < 0) throw fieldError(field, "is not a valid time");
  return ms;
}

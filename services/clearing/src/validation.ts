// Pure checks of request fields shared by the clearing handlers.
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";
import type { Money } from "@clearmesh/contracts";
import { invalidField } from "./errors.js";

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
export const INT64_MAX = 2n ** 63n - 1n;
export const MAX_REFERENCE_CHARS = 128;

export function requireParticipantId(field: string, value: string): string {
  if (!PARTICIPANT_ID_PATTERN.test(value)) throw invalidField(field, "must match [a-z0-9][a-z0-9-]{2,31}");
  return value;
}

export function requireId(field: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw invalidField(field, "must be 1-64 characters of [A-Za-z0-9._:-] (a UUID or ULID)");
  return value;
}

export function requireText(field: string, value: string, maxChars: number, required = false): string {
  if (required && value.trim().length === 0) throw invalidField(field, "is required");
  if (value.length > maxChars) throw invalidField(field, `must be at most ${maxChars} characters`);
  if (/[\u0000-\u001f]/.test(value)) throw invalidField(field, "must not contain control characters");
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

// Pure checks of request fields shared by the bank's handlers; each refusal names the field.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { CURRENCY_PATTERN, ID_PATTERN, INT64_MAX, PHONE_PATTERN, fieldChecks } from "@clearmesh/runtime";
import { fieldError } from "./errors.js";

export { CURRENCY_PATTERN, ID_PATTERN, INT64_MAX };
/** Ids, participant ids, text, currencies and money: the runtime's shared rules, with the bank's error. */
export const { requireId, requireParticipantId, requireText, requireCurrency, requirePositiveMoney, pageLimit, pageAfter } = fieldChecks(fieldError);
/** Clearing's limit on payer and payee references. */
export const MAX_REFERENCE_CHARS = 128;
export const MAX_NAME_CHARS = 140;
const EMAIL_PATTERN = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/;
const MAX_EMAIL_CHARS = 254;

export interface Amount {
  currency: string;
  amountMinor: bigint;
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
  if (!PHONE_PATTERN.test(value)) throw fieldError(field, "must be an E.164 number like +15551234567");
  return value;
}

/** Milliseconds of a timestamp, or undefined when unset; refuses values outside the safe range. */
export function optionalTimestampMs(field: string, value: Timestamp | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = timestampMs(value);
  if (!Number.isSafeInteger(ms) || ms < 0) throw fieldError(field, "is not a valid time");
  return ms;
}

// Pure checks of request fields: ids, money, aliases (e-mail, E.164 phone), names, pages.
// Messages name the field and never echo a value that may be personal. Ids, currencies, money
// and the alias rule are the runtime's shared ones (packages/runtime/src/fields.ts), the same
// clearing applies to party lookups.
import { INT64_MAX, PHONE_PATTERN, aliasOf, fieldChecks, normalizedEmail, type AliasKind } from "@clearmesh/runtime";
import { maskEmail, maskPhone } from "@clearmesh/trust";
import { invalidField } from "./errors.js";

export { INT64_MAX, PHONE_PATTERN, type AliasKind };
export const { requireId, requireCurrency, requirePositiveMoney, pageLimit } = fieldChecks(invalidField);
export const MAX_DISPLAY_NAME_CHARS = 100;

/** A normalised e-mail address (trimmed, lower-cased), or INVALID_ARGUMENT naming the field. */
export function normalizeEmail(field: string, value: string): string {
  const email = normalizedEmail(value.trim());
  if (email !== undefined) return email;
  throw invalidField(field, "must be an e-mail address");
}

export function requirePhone(field: string, value: string): string {
  if (!PHONE_PATTERN.test(value)) throw invalidField(field, "must be an E.164 phone number (+ and 7 to 15 digits)");
  return value;
}

/** An alias as clearing stores it: an E.164 number as is, an e-mail address (trimmed) lower-cased. */
export function normalizeAlias(field: string, value: string): { alias: string; kind: AliasKind } {
  const alias = aliasOf(PHONE_PATTERN.test(value) ? value : value.trim());
  if (alias) return alias;
  throw invalidField(field, "must be an E.164 phone number or an e-mail address");
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


// Pure checks of request fields shared by the clearing handlers; ids, currencies and money
// follow the runtime's shared rules (packages/runtime/src/fields.ts) with clearing's error.
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";
import { INT64_MAX, fieldChecks } from "@clearmesh/runtime";
import { invalidField } from "./errors.js";

export { INT64_MAX };
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const MAX_REFERENCE_CHARS = 128;
export const { requireId, requireCurrency, requirePositiveMoney } = fieldChecks(invalidField);

export function requireParticipantId(field: string, value: string): string {
  if (!PARTICIPANT_ID_PATTERN.test(value)) throw invalidField(field, "must match [a-z0-9][a-z0-9-]{2,31}");
  return value;
}

export function requireText(field: string, value: string, maxChars: number, required = false): string {
  if (required && value.trim().length === 0) throw invalidField(field, "is required");
  if (value.length > maxChars) throw invalidField(field, `must be at most ${maxChars} characters`);
  if (/[\u0000-\u001f]/.test(value)) throw invalidField(field, "must not contain control characters");
  return value;
}

// Pure checks of request fields shared by the clearing handlers; ids, currencies and money
// follow the runtime's shared rules (packages/runtime/src/fields.ts) with clearing's error.
import { INT64_MAX, fieldChecks } from "@clearmesh/runtime";
import { KEY_ID_PATTERN } from "@clearmesh/trust";
import { invalidField } from "./errors.js";

export { INT64_MAX, KEY_ID_PATTERN };
export const MAX_REFERENCE_CHARS = 128;
export const { requireId, requireParticipantId, requireText, requireCurrency, requirePositiveMoney, pageLimit, pageAfter } = fieldChecks(invalidField);


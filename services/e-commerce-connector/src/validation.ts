// Pure checks of request fields; each failure names the field (ErrorInfo.metadata.field).
import { CURRENCY_PATTERN, ID_PATTERN, INT64_MAX, fieldChecks } from "@clearmesh/runtime";
import { KEY_ID_PATTERN } from "@clearmesh/trust";
import { CommerceFailure, invalidField } from "./errors.js";

export { CURRENCY_PATTERN, ID_PATTERN, INT64_MAX, KEY_ID_PATTERN };
/** Ids, participant ids, text and money: the runtime's shared rules, with the connector's error. */
export const { requireId, requireParticipantId, requireText, requirePositiveMoney, pageLimit, pageAfter } = fieldChecks(invalidField);
export const PUBLIC_KEY_BYTES = 32;
export const MAX_NAME_CHARS = 200;
export const MAX_URL_CHARS = 2_048;
export const MAX_DESCRIPTION_CHARS = 500;
export const MAX_REFERENCE_CHARS = 128;
export const MAX_REASON_CHARS = 200;
export const MAX_CARD_TOKEN_CHARS = 256;
export const MAX_METADATA_ENTRIES = 20;
export const MAX_METADATA_KEY_CHARS = 40;
export const MAX_METADATA_VALUE_CHARS = 500;

/** An http(s) URL with a host and no credentials; anything else is WEBHOOK_URL_INVALID. */
export function requireWebhookUrl(value: string): string {
  const refuse = (problem: string) => new CommerceFailure("WEBHOOK_URL_INVALID", `webhook_url ${problem}`, { field: "webhook_url" });
  if (value.length === 0 || value.length > MAX_URL_CHARS) throw refuse(`must be 1 to ${MAX_URL_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refuse("is not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw refuse("must use http or https");
  if (url.hostname === "") throw refuse("must name a host");
  if (url.username !== "" || url.password !== "") throw refuse("must not carry credentials");
  return value;
}

export function requireMetadata(metadata: Record<string, string>): Record<string, string> {
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) throw invalidField("metadata", `must have at most ${MAX_METADATA_ENTRIES} entries`);
  for (const [key, value] of entries) {
    if (key.length === 0 || key.length > MAX_METADATA_KEY_CHARS) throw invalidField("metadata", `keys must be 1 to ${MAX_METADATA_KEY_CHARS} characters`);
    requireText(`metadata.${key}`, key, MAX_METADATA_KEY_CHARS);
    requireText(`metadata.${key}`, value, MAX_METADATA_VALUE_CHARS);
  }
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}


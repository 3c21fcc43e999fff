// Display masks for values that must never appear whole in messages or logs (PROTOCOL section 7).
// Inputs too short to hide enough are masked completely rather than shown in part.

const MASK = "****";
const VISIBLE_DIGITS = 4;
/** Reveal the last 4 only when at least as many characters stay hidden. */
const MIN_LENGTH_TO_REVEAL = 8;

function lastVisible(text: string): string {
  return text.length >= MIN_LENGTH_TO_REVEAL ? text.slice(-VISIBLE_DIGITS) : "";
}

/** "4242 4242 4242 4242" -> "**** 4242". */
export function maskPan(pan: string): string {
  const digits = pan.replace(/[\s-]/g, "");
  const visible = /^[0-9]+$/.test(digits) ? lastVisible(digits) : "";
  return visible ? `${MASK} ${visible}` : MASK;
}

/** "DE89370400440532013000" -> "****3000". */
export function maskAccountNumber(accountNumber: string): string {
  return MASK + lastVisible(accountNumber.replace(/[\s-]/g, ""));
}

/** "alice@example.com" -> "a***@example.com". */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 0 || at === email.length - 1) return "***";
  const local = email.slice(0, at);
  const shown = local.length > 1 ? local.slice(0, 1) : "";
  return `${shown}***${email.slice(at)}`;
}

/** "+15551234567" -> "+*******4567": keeps the plus and the last four digits. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/[^0-9]/g, "");
  const plus = phone.trim().startsWith("+") ? "+" : "";
  const visible = lastVisible(digits);
  return plus + "*".repeat(digits.length - visible.length) + visible;
}

/**
 * Field names whose values are secret wherever they appear (snake_case as in protos and SQL,
 * camelCase as in protobuf-es objects, lower-case header names). cm-signature is not secret.
 */
export const SECRET_FIELD_NAMES: readonly string[] = Object.freeze([
  "password",
  "new_password",
  "newPassword",
  "password_hash",
  "passwordHash",
  "seed",
  "private_key",
  "privateKey",
  "totp_secret",
  "totpSecret",
  "totp_code",
  "totpCode",
  "session_token",
  "sessionToken",
  "token",
  "pan",
  "card_number",
  "cardNumber",
  "cvc",
  "cvv",
  "account_number",
  "accountNumber",
  "data_keys",
  "dataKeys",
  "CLEARMESH_DATA_KEYS",
  "authorization",
  "cookie",
  "set-cookie",
]);

export const REDACTED = "[REDACTED]";
/** Deeper structures are cut off: logs never need them and recursion must stop somewhere. */
export const REDACT_MAX_DEPTH = 16;

const secretNames = new Set(SECRET_FIELD_NAMES.map((name) => name.toLowerCase()));

export function isSecretFieldName(name: string): boolean {
  return secretNames.has(name.toLowerCase());
}

/** Copies plain objects and arrays, replacing every secret field's value with "[REDACTED]". */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= REDACT_MAX_DEPTH) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    copy[name] = isSecretFieldName(name) ? REDACTED : redactSecrets(field, depth + 1);
  }
  return copy;
}

/** Pino `redact.paths` for the secret names at the top level and one level down. */
export function secretRedactPaths(): string[] {
  return SECRET_FIELD_NAMES.flatMap((name) => [`["${name}"]`, `*["${name}"]`]);
}

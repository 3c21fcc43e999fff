// Checks shared by the signed-text builders and verifiers. Every signed text is a list of
// lines, so a field containing a line break could shift the others: builders refuse it.

export const PARTICIPANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,31}$/;
/** A participant's key id as the directory registers it, e.g. `bank-a-1`. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Key ids, event and webhook ids: printable ASCII without spaces, bounded in length. */
export const TOKEN_PATTERN = /^[\x21-\x7e]{1,128}$/;
export const DECIMAL_MS_PATTERN = /^[0-9]{1,16}$/;

export type MillisecondsValue = number | bigint | string;

export function assertSingleLine(name: string, value: string): void {
  if (typeof value !== "string" || /[\r\n]/.test(value)) {
    throw new TypeError(`${name} must be a string without line breaks`);
  }
}

export function assertDigestLength(name: string, digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) {
    throw new TypeError(`${name} must be a 32-byte SHA-256 digest`);
  }
}

/** Canonical decimal text of an integer millisecond value (no sign games, no leading zeros). */
export function millisecondsText(name: string, value: MillisecondsValue): string {
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new TypeError(`${name} must be an integer number of milliseconds`);
  }
  if (typeof value === "string" && !/^-?[0-9]+$/.test(value)) {
    throw new TypeError(`${name} must be decimal digits`);
  }
  return BigInt(value).toString();
}

/** Parses a wire timestamp: decimal digits only, within the safe integer range. */
export function parseMillisecondsHeader(value: string): number | undefined {
  if (!DECIMAL_MS_PATTERN.test(value)) return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}

// Money as text, shared by every service: ISO 4217 minor-unit digits and exact decimal
// formatting of bigint minor units (PROTOCOL.md §2: no floating point anywhere money is computed
// or written). Conversions between currencies scale by the difference of their digits.

/** Currencies whose minor unit is not the usual hundredth (ISO 4217 list of active codes). */
const MINOR_DIGITS: ReadonlyMap<string, number> = new Map([
  ["BIF", 0], ["CLP", 0], ["DJF", 0], ["GNF", 0], ["ISK", 0], ["JPY", 0], ["KMF", 0], ["KRW", 0],
  ["PYG", 0], ["RWF", 0], ["UGX", 0], ["UYI", 0], ["VND", 0], ["VUV", 0], ["XAF", 0], ["XOF", 0], ["XPF", 0],
  ["BHD", 3], ["IQD", 3], ["JOD", 3], ["KWD", 3], ["LYD", 3], ["OMR", 3], ["TND", 3],
  ["CLF", 4], ["UYW", 4],
]);

/** The usual minor unit: hundredths (USD, EUR, GBP, ...); also assumed for codes not listed (most ISO 4217 currencies). */
export const DEFAULT_MINOR_DIGITS = 2;

export function minorDigits(currency: string): number {
  return MINOR_DIGITS.get(currency) ?? DEFAULT_MINOR_DIGITS;
}

/** 123456n USD -> "1234.56"; 5n KWD -> "0.005"; 1200n JPY -> "1200"; negative values get a leading "-". */
export function formatMinor(amountMinor: bigint, currency: string): string {
  const digits = minorDigits(currency);
  const sign = amountMinor < 0n ? "-" : "";
  const magnitude = (amountMinor < 0n ? -amountMinor : amountMinor).toString();
  if (digits === 0) return sign + magnitude;
  const padded = magnitude.padStart(digits + 1, "0");
  return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
}

/** The inverse of formatMinor, for tests and partners' files: exactly the currency's digits, no exponent. */
export function parseMinor(text: string, currency: string): bigint {
  const digits = minorDigits(currency);
  const pattern = digits === 0 ? /^(-?)(\d+)$/ : new RegExp(`^(-?)(\\d+)\\.(\\d{${digits}})$`);
  const match = pattern.exec(text);
  if (!match) throw new Error(`"${text}" is not an amount with ${digits} decimals`);
  const value = BigInt(`${match[2]}${match[3] ?? ""}`);
  return match[1] === "-" ? -value : value;
}

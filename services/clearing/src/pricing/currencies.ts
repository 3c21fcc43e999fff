// ISO 4217 minor-unit digits: how many decimal places a currency's minor unit has (USD 2: one
// minor unit is 0.01 USD; JPY 0; KWD 3). Conversions between currencies scale by the difference.

/** Currencies whose minor unit is not the usual hundredth (ISO 4217 list of active codes). */
const MINOR_DIGITS: ReadonlyMap<string, number> = new Map([
  // No minor unit.
  ["BIF", 0], ["CLP", 0], ["DJF", 0], ["GNF", 0], ["ISK", 0], ["JPY", 0], ["KMF", 0], ["KRW", 0],
  ["PYG", 0], ["RWF", 0], ["UGX", 0], ["UYI", 0], ["VND", 0], ["VUV", 0], ["XAF", 0], ["XOF", 0], ["XPF", 0],
  // Thousandths.
  ["BHD", 3], ["IQD", 3], ["JOD", 3], ["KWD", 3], ["LYD", 3], ["OMR", 3], ["TND", 3],
  // Ten-thousandths (units of account).
  ["CLF", 4], ["UYW", 4],
]);

/** The usual minor unit: hundredths (USD, EUR, GBP, ...). */
export const DEFAULT_MINOR_DIGITS = 2;

/**
 * Decimal digits of a currency's minor unit. A code not in the table above is assumed to have
 * 2 digits, as most ISO 4217 currencies do (USD, EUR, GBP, CHF, ...); that includes codes that
 * are not ISO 4217 at all, which clearing does not otherwise refuse.
 */
export function minorDigits(currency: string): number {
  return MINOR_DIGITS.get(currency) ?? DEFAULT_MINOR_DIGITS;
}

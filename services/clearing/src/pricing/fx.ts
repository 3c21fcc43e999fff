// Exact FX arithmetic (PROTOCOL.md §2): rates are decimal strings parsed into a bigint fraction,
// and amounts are bigint minor units; nothing here ever passes through a floating-point number.
//
// Rounding: a conversion of `source_minor` (minor units of the source currency) at `rate`
// (target units per source unit) is
//
//   target_minor = round_half_up(source_minor × rate × 10^(target_digits − source_digits))
//
// computed as one exact fraction and rounded once, half up on the target's minor unit (a
// remainder of exactly one half rounds away from zero; amounts are never negative here).
// Example: 1 000 USD cents at "0.9231" into EUR = 923.1 → 923 EUR cents; 1 USD cent at "150.5"
// into JPY (0 digits) = 1.505 → 2 yen; 5 USD cents at "0.9" into EUR = 4.5 → 5 cents.
import { minorDigits } from "@clearmesh/runtime";

/** A positive decimal rate: `numerator / 10^scale`. */
export interface Rate {
  readonly numerator: bigint;
  /** Decimal places, 0..MAX_RATE_DECIMALS. */
  readonly scale: number;
}

export const MAX_RATE_DECIMALS = 12;
/** At most 18 integer digits: far above any real rate, and keeps the text short. */
const RATE_PATTERN = /^(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,12}))?$/;

/**
 * Parses a rate string: a positive decimal with at most 12 decimals, digits and one optional
 * point only (no sign, exponent, spaces or leading zeros). Trailing zeros are dropped, so
 * "1.50" and "1.5" are the same rate. Throws a RangeError saying what is wrong.
 */
export function parseRate(text: string): Rate {
  const match = RATE_PATTERN.exec(text);
  if (!match) throw new RangeError(`must be a positive decimal such as "1.0825" with at most ${MAX_RATE_DECIMALS} decimals and no exponent`);
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  const numerator = BigInt(match[1]! + fraction);
  if (numerator === 0n) throw new RangeError("must be positive");
  return { numerator, scale: fraction.length };
}

/** The canonical text of a rate: no trailing zeros, no point for a whole number. */
export function formatRate(rate: Rate): string {
  const digits = rate.numerator.toString().padStart(rate.scale + 1, "0");
  if (rate.scale === 0) return digits;
  return `${digits.slice(0, digits.length - rate.scale)}.${digits.slice(digits.length - rate.scale)}`;
}

/**
 * The exact value of `sourceMinor` converted at `rate`, as a fraction numerator / denominator
 * in minor units of the target currency (before rounding).
 */
export function exactConversion(sourceMinor: bigint, rate: Rate, sourceCurrency: string, targetCurrency: string): { numerator: bigint; denominator: bigint } {
  const shift = minorDigits(targetCurrency) - minorDigits(sourceCurrency);
  const scaleUp = shift > 0 ? 10n ** BigInt(shift) : 1n;
  const scaleDown = shift < 0 ? 10n ** BigInt(-shift) : 1n;
  return { numerator: sourceMinor * rate.numerator * scaleUp, denominator: 10n ** BigInt(rate.scale) * scaleDown };
}

/**
 * Converts minor units of `sourceCurrency` into minor units of `targetCurrency`:
 * round_half_up(source_minor × rate × 10^(target_digits − source_digits)), exactly.
 */
export function convertMinor(sourceMinor: bigint, rate: Rate, sourceCurrency: string, targetCurrency: string): bigint {
  if (sourceMinor < 0n) throw new RangeError("only non-negative amounts are converted");
  const { numerator, denominator } = exactConversion(sourceMinor, rate, sourceCurrency, targetCurrency);
  return roundHalfUp(numerator, denominator);
}

/** numerator / denominator rounded to the nearest integer, halves up (non-negative numerator, positive denominator). */
export function roundHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n);
}

// Money for people: exact minor units (a bigint, never a float) split into major and minor
// digits here, and laid out for a locale by Intl. Intl only formats a representative amount with
// the same number of integer digits and the same sign, and we take from it where the currency
// symbol, the sign, the grouping and the decimal separator go and which digits the locale
// writes; every digit shown is ours. No floating point on the way.
import { minorDigits } from "@clearmesh/runtime";

export { minorDigits };

export const CURRENCY_PATTERN = /^[A-Z]{3}$/;
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
/** Formatters built per (locale, currency, digits, sign); bounded because locales come from requests. */
const FORMAT_CACHE_MAX_ENTRIES = 512;

export interface Money {
  currency: string;
  amountMinor: bigint;
}

/** The money as it is read in `locale`: "$12.50" (en-US, USD 1250), "12,50 €" (de-DE, EUR 1250). */
export function formatMoney(money: Money, locale: string): string {
  if (!CURRENCY_PATTERN.test(money.currency)) throw new RangeError("currency must be three upper-case letters");
  const digits = minorDigits(money.currency);
  const negative = money.amountMinor < 0n;
  const absolute = (negative ? -money.amountMinor : money.amountMinor).toString().padStart(digits + 1, "0");
  const major = absolute.slice(0, absolute.length - digits);
  const minor = absolute.slice(absolute.length - digits);
  const layout = layoutOf(locale, money.currency, digits, major.length, negative);
  let nextMajorDigit = 0;
  const text = layout.parts.map((part) => {
    if (part.type === "integer") {
      const chunk = major.slice(nextMajorDigit, nextMajorDigit + part.value.length);
      nextMajorDigit += part.value.length;
      return localDigits(chunk, layout.digits);
    }
    if (part.type === "fraction") return localDigits(minor, layout.digits);
    return part.value;
  }).join("");
  // Intl writes every integer digit of the representative, so ours must all have been used.
  if (nextMajorDigit !== major.length) throw new Error(`money layout of ${locale} used ${nextMajorDigit} of ${major.length} digits`);
  return text;
}

interface Layout {
  parts: Intl.NumberFormatPart[];
  /** The locale's digits 0-9 (Arabic-Indic in ar-EG, Latin in most). */
  digits: readonly string[];
}

const layouts = new Map<string, Layout>();

function layoutOf(locale: string, currency: string, fractionDigits: number, integerDigits: number, negative: boolean): Layout {
  const cacheKey = `${locale}|${currency}|${fractionDigits}|${integerDigits}|${negative}`;
  const cached = layouts.get(cacheKey);
  if (cached) return cached;
  const options = { style: "currency", currency, minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits } as const;
  const formatter = new Intl.NumberFormat(locale, options);
  // A bigint of as many ones as our integer digits: formatted exactly, grouped as ours would be.
  const representative = BigInt("1".repeat(integerDigits));
  const parts = formatter.formatToParts(negative ? -representative : representative);
  const plain = new Intl.NumberFormat(locale, { useGrouping: false, numberingSystem: formatter.resolvedOptions().numberingSystem });
  const digits = Array.from({ length: 10 }, (_, digit) => plain.format(digit));
  const layout = { parts, digits };
  if (layouts.size >= FORMAT_CACHE_MAX_ENTRIES) layouts.delete(layouts.keys().next().value!);
  layouts.set(cacheKey, layout);
  return layout;
}

function localDigits(asciiDigits: string, digits: readonly string[]): string {
  let text = "";
  for (const character of asciiDigits) text += digits[character.charCodeAt(0) - 48];
  return text;
}

/**
 * Parses a Money parameter: protobuf JSON of clearmesh.common.v1.Money with the amount as a
 * decimal string, `{"currency":"USD","amountMinor":"1250"}` (`amount_minor` also accepted).
 * A JSON number is refused: it has been through a float already.
 */
export function parseMoneyParameter(text: string): Money | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "is not JSON";
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "is not a Money object";
  const record = value as Record<string, unknown>;
  const currency = record.currency;
  const amount = record.amountMinor ?? record.amount_minor;
  if (typeof currency !== "string" || !CURRENCY_PATTERN.test(currency)) return "currency must be three upper-case letters";
  if (typeof amount !== "string" || !/^-?\d{1,19}$/.test(amount)) return "amountMinor must be an integer written as a string";
  const amountMinor = BigInt(amount);
  if (amountMinor < INT64_MIN || amountMinor > INT64_MAX) return "amountMinor must fit int64";
  return { currency, amountMinor };
}

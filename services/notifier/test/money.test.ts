// Money for people: exact strings per locale, from exact minor units, never through a float.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { formatMoney, minorDigits, parseMoneyParameter } from "../src/money.js";

const NBSP = "\u00a0";
const money = (currency: string, amountMinor: bigint) => ({ currency, amountMinor });

describe("formatMoney", () => {
  it.each([
    ["en-US", "USD", 1250n, "$12.50"],
    ["de-DE", "EUR", 1250n, `12,50${NBSP}€`],
    ["en-US", "EUR", 1250n, "€12.50"],
    ["en-US", "JPY", 1250n, "¥1,250"],
    ["ja-JP", "JPY", 1250n, "￥1,250"],
    ["en-US", "KWD", 1250n, `KWD${NBSP}1.250`],
    ["en-US", "USD", 5n, "$0.05"],
    ["en-US", "USD", -5n, "-$0.05"],
    ["en-US", "USD", 0n, "$0.00"],
    ["en-US", "USD", 123456789n, "$1,234,567.89"],
    ["en-IN", "INR", 123456789012n, "₹1,23,45,67,890.12"],
    ["es-ES", "EUR", 123456n, `1234,56${NBSP}€`],
    ["es-ES", "EUR", 1234567n, `12.345,67${NBSP}€`],
    ["fr-FR", "EUR", -123456789n, `-1\u202f234\u202f567,89${NBSP}€`],
    ["de-CH", "CHF", -123450n, "CHF-1'234.50"],
    ["en-US", "USD", 9223372036854775807n, "$92,233,720,368,547,758.07"],
    ["en-US", "USD", -9223372036854775808n, "-$92,233,720,368,547,758.08"],
    ["en-US", "CLF", 12345n, `CLF${NBSP}1.2345`],
  ])("%s %s %s → %s", (locale, currency, amountMinor, expected) => {
    expect(formatMoney(money(currency, amountMinor), locale)).toBe(expected);
  });

  it("writes the locale's own digits", () => {
    expect(formatMoney(money("USD", 1250n), "ar-EG")).toBe("\u200f١٢٫٥٠\u00a0US$");
  });

  it("refuses a currency that is not three upper-case letters", () => {
    expect(() => formatMoney(money("usd", 1n), "en-US")).toThrow(RangeError);
  });

  it("knows the minor units of ISO 4217 (2 unless listed)", () => {
    expect([minorDigits("USD"), minorDigits("JPY"), minorDigits("KWD"), minorDigits("XYZ")]).toEqual([2, 0, 3, 2]);
  });

  // Intl formats a decimal string exactly (no float), which makes it a fair oracle here.
  const oracle = (currency: string, amountMinor: bigint, locale: string) => {
    const digits = minorDigits(currency);
    const absolute = (amountMinor < 0n ? -amountMinor : amountMinor).toString().padStart(digits + 1, "0");
    const decimal = `${amountMinor < 0n ? "-" : ""}${absolute.slice(0, absolute.length - digits)}${digits > 0 ? "." : ""}${absolute.slice(absolute.length - digits)}`;
    const formatter = new Intl.NumberFormat(locale, { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
    return formatter.format(decimal as unknown as number);
  };

  it("equals Intl formatting the exact decimal, for any int64 amount", () => {
    fc.assert(fc.property(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.constantFrom("USD", "EUR", "JPY", "KWD", "INR", "CHF", "GBP", "BHD", "CLF"),
      fc.constantFrom("en-US", "de-DE", "fr-FR", "ja-JP", "en-IN", "es-ES", "de-CH", "pt-BR", "ar-EG", "hi-IN-u-nu-deva"),
      (amountMinor, currency, locale) => {
        expect(formatMoney(money(currency, amountMinor), locale)).toBe(oracle(currency, amountMinor, locale));
      },
    ), { numRuns: 500 });
  });
});

describe("parseMoneyParameter", () => {
  it("reads Money JSON with the amount as a string", () => {
    expect(parseMoneyParameter('{"currency":"USD","amountMinor":"1250"}')).toEqual(money("USD", 1250n));
    expect(parseMoneyParameter('{"currency":"KWD","amount_minor":"-7"}')).toEqual(money("KWD", -7n));
    expect(parseMoneyParameter('{"currency":"USD","amountMinor":"9223372036854775807"}')).toEqual(money("USD", 9223372036854775807n));
  });

  it.each([
    ['{"currency":"USD","amountMinor":1250}', "amountMinor must be an integer written as a string"],
    ['{"currency":"USD","amountMinor":"12.50"}', "amountMinor must be an integer written as a string"],
    ['{"currency":"usd","amountMinor":"1"}', "currency must be three upper-case letters"],
    ['{"currency":"USD","amountMinor":"9223372036854775808"}', "amountMinor must fit int64"],
    ["[1]", "is not a Money object"],
    ["nope", "is not JSON"],
  ])("refuses %s", (text, problem) => {
    expect(parseMoneyParameter(text)).toBe(problem);
  });
});

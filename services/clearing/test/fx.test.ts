// Exact FX arithmetic (pricing/fx.ts): rate parsing, conversion across minor-unit digits with
// half-up rounding, checked against hand-computed values and with properties (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { minorDigits } from "@clearmesh/runtime";
import { convertMinor, exactConversion, formatRate, parseRate, type Rate } from "../src/pricing/fx.js";

const at = (rate: string, source: string, target: string, amount: bigint) => convertMinor(amount, parseRate(rate), source, target);

describe("minor-unit digits", () => {
  it("follows ISO 4217 and defaults to 2", () => {
    expect(["USD", "EUR", "GBP"].map(minorDigits)).toEqual([2, 2, 2]);
    expect(["JPY", "KRW"].map(minorDigits)).toEqual([0, 0]);
    expect(["KWD", "BHD", "JOD", "OMR", "TND"].map(minorDigits)).toEqual([3, 3, 3, 3, 3]);
    expect(minorDigits("XYZ")).toBe(2);
  });
});

describe("parseRate", () => {
  it.each([
    ["1.0825", 10825n, 4, "1.0825"],
    ["0.9231", 9231n, 4, "0.9231"],
    ["151.37", 15137n, 2, "151.37"],
    ["1", 1n, 0, "1"],
    ["1.50", 15n, 1, "1.5"],
    ["2.000", 2n, 0, "2"],
    ["0.000000000001", 1n, 12, "0.000000000001"],
    ["123456789012345678.5", 1234567890123456785n, 1, "123456789012345678.5"],
  ])("parses %s exactly", (text, numerator, scale, canonical) => {
    const rate = parseRate(text);
    expect(rate).toEqual({ numerator, scale });
    expect(formatRate(rate)).toBe(canonical);
  });

  it.each(["0", "0.0", "0.000000000000", "-1", "+1", "1e3", "1E-2", "1.0000000000001", " 1", "1 ", "1.", ".5", "01.5", "", "NaN", "Infinity", "1,5", "0x10", "1234567890123456789"])(
    "refuses %j", (text) => {
      expect(() => parseRate(text)).toThrow(RangeError);
    });
});

describe("convertMinor", () => {
  it.each([
    // [rate, from, to, source minor, target minor]: hand-computed
    ["0.9231", "USD", "EUR", 10_000n, 9_231n], // 100.00 USD → 92.31 EUR
    ["0.9231", "USD", "EUR", 1_234n, 1_139n], // 1139.1054 → 1139
    ["0.9231", "USD", "EUR", 12_345n, 11_396n], // 11395.6695 → 11396
    ["151.37", "USD", "JPY", 100n, 151n], // 1.00 USD → 151.37 yen → 151
    ["151.37", "USD", "JPY", 1_050n, 1_589n], // 10.50 USD → 1589.385 yen → 1589
    ["0.0066", "JPY", "USD", 1_000n, 660n], // 1000 yen → 6.60 USD
    ["0.3075", "USD", "KWD", 10_000n, 30_750n], // 100.00 USD → 30.750 KWD
    ["495.5", "KWD", "JPY", 1n, 0n], // 0.001 KWD → 0.4955 yen → 0
    ["495.5", "KWD", "JPY", 1_000n, 496n], // 1 KWD → 495.5 yen → 496 (half up)
    ["1", "USD", "EUR", 0n, 0n],
  ])("at %s converts %s → %s: %s → %s", (rate, from, to, amount, expected) => {
    expect(at(rate, from, to, amount)).toBe(expected);
  });

  it("rounds exactly half up, and anything below half down", () => {
    expect(at("0.5", "USD", "EUR", 1n)).toBe(1n); // 0.5 → 1
    expect(at("0.5", "USD", "EUR", 3n)).toBe(2n); // 1.5 → 2
    expect(at("0.25", "USD", "EUR", 2n)).toBe(1n); // 0.5 → 1
    expect(at("150.5", "USD", "JPY", 1n)).toBe(2n); // 1.505 → 2
    expect(at("149.5", "USD", "JPY", 1n)).toBe(1n); // 1.495 → 1
    expect(at("0.4999", "USD", "EUR", 1n)).toBe(0n); // 0.4999 → 0
    expect(at("0.000000000001", "USD", "EUR", 500_000_000_000n)).toBe(1n); // exactly 0.5 → 1
    expect(at("0.000000000001", "USD", "EUR", 499_999_999_999n)).toBe(0n);
  });

  it("keeps int64-sized amounts exact", () => {
    const max = 2n ** 63n - 1n;
    expect(at("1", "USD", "EUR", max)).toBe(max);
    expect(at("0.5", "USD", "EUR", max)).toBe(2n ** 62n); // (2^63 − 1) / 2 = 2^62 − 0.5 → 2^62
    expect(at("1", "KWD", "USD", max)).toBe((max + 5n) / 10n);
  });

  it("refuses negative amounts", () => {
    expect(() => at("1", "USD", "EUR", -1n)).toThrow(RangeError);
  });
});

const currencies = ["USD", "EUR", "GBP", "JPY", "KRW", "KWD", "BHD", "TND"];
const currency = fc.constantFrom(...currencies);
const amount = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });
const rate: fc.Arbitrary<Rate> = fc.record({ numerator: fc.bigInt({ min: 1n, max: 10n ** 15n }), scale: fc.integer({ min: 0, max: 12 }) })
  .map(({ numerator, scale }) => parseRate(formatRate({ numerator, scale })));

describe("convertMinor properties", () => {
  it("is monotonic in the amount", () => {
    fc.assert(fc.property(rate, currency, currency, amount, amount, (r, from, to, a, b) => {
      const [low, high] = a <= b ? [a, b] : [b, a];
      expect(convertMinor(low, r, from, to)).toBeLessThanOrEqual(convertMinor(high, r, from, to));
    }), { numRuns: 500 });
  });

  it("is the exact value rounded half up: −½ < result − exact ≤ ½", () => {
    fc.assert(fc.property(rate, currency, currency, amount, (r, from, to, a) => {
      const { numerator, denominator } = exactConversion(a, r, from, to);
      const error2 = 2n * (convertMinor(a, r, from, to) * denominator - numerator);
      expect(error2 > -denominator && error2 <= denominator).toBe(true);
    }), { numRuns: 500 });
  });

  it("round-trips through the exact inverse rate within ½ + rate⁻¹/2 minor units", () => {
    // Rates 2^a · 5^b / 10^c have finite decimal inverses 10^c / (2^a · 5^b); both must fit 12 decimals.
    const invertible = fc.record({ a: fc.integer({ min: 0, max: 10 }), b: fc.integer({ min: 0, max: 10 }), c: fc.integer({ min: 0, max: 12 }) })
      .filter(({ a, b, c }) => a + b - c <= 12)
      .map(({ a, b, c }) => {
        const forward = parseRate(formatRate({ numerator: 2n ** BigInt(a) * 5n ** BigInt(b), scale: c }));
        // 10^c / (2^a 5^b) = 10^c · 5^a · 2^b / 10^(a+b)
        const inverseScale = a + b - c;
        const inverseNumerator = 5n ** BigInt(a) * 2n ** BigInt(b) * (inverseScale < 0 ? 10n ** BigInt(-inverseScale) : 1n);
        return { forward, inverse: parseRate(formatRate({ numerator: inverseNumerator, scale: Math.max(inverseScale, 0) })) };
      });
    fc.assert(fc.property(invertible, currency, currency, fc.bigInt({ min: 0n, max: 10n ** 15n }), ({ forward, inverse }, from, to, x) => {
      // The forward and inverse rates multiply to exactly 1.
      expect(forward.numerator * inverse.numerator).toBe(10n ** BigInt(forward.scale + inverse.scale));
      const back = convertMinor(convertMinor(x, forward, from, to), inverse, to, from);
      // |back − x| ≤ ½ + inverse / (2k), k = 10^(to digits − from digits):
      // 2·|back − x|·10^s·kUp ≤ 10^s·kUp + n·kDown, with inverse = n / 10^s.
      const shift = minorDigits(to) - minorDigits(from);
      const kUp = 10n ** BigInt(Math.max(shift, 0));
      const kDown = 10n ** BigInt(Math.max(-shift, 0));
      const distance = back >= x ? back - x : x - back;
      const unit = 10n ** BigInt(inverse.scale);
      expect(2n * distance * unit * kUp <= unit * kUp + inverse.numerator * kDown).toBe(true);
    }), { numRuns: 500 });
  });

  it("round-trips exactly between currencies of the same digits at rate 1", () => {
    fc.assert(fc.property(amount, (a) => {
      expect(convertMinor(convertMinor(a, parseRate("1"), "USD", "EUR"), parseRate("1"), "EUR", "USD")).toBe(a);
    }));
  });
});

// The fee schedule (PROTOCOL.md §2): fee = fixed + round_half_up(amount × bp / 10 000), exact
// in bigint, the first matching rule applies; FEE_SCHEDULE parsing refuses bad rules.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ParticipantKind } from "@clearmesh/contracts";
import { divideHalfUp, feeFor, parseFeeSchedule, type FeeSchedule } from "../src/pricing/fees.js";

const INT64_MAX = 2n ** 63n - 1n;
const rule = (currency: string, payerKind: string, fixedMinor: bigint, basisPoints: bigint) => ({ currency, payerKind, fixedMinor, basisPoints });
const bp = (basisPoints: bigint, fixedMinor = 0n): FeeSchedule => [rule("*", "*", fixedMinor, basisPoints)];

describe("divideHalfUp", () => {
  it("rounds halves up and everything else to the nearest integer", () => {
    expect(divideHalfUp(0n, 10_000n)).toBe(0n);
    expect(divideHalfUp(4_999n, 10_000n)).toBe(0n);
    expect(divideHalfUp(5_000n, 10_000n)).toBe(1n); // 0.5 → 1
    expect(divideHalfUp(5_001n, 10_000n)).toBe(1n);
    expect(divideHalfUp(14_999n, 10_000n)).toBe(1n);
    expect(divideHalfUp(15_000n, 10_000n)).toBe(2n); // 1.5 → 2
    expect(divideHalfUp(25_000n, 10_000n)).toBe(3n); // 2.5 → 3 (half-up, not half-even)
    expect(divideHalfUp(7n, 2n)).toBe(4n);
    expect(divideHalfUp(7n, 7n)).toBe(1n);
    expect(divideHalfUp(10n, 3n)).toBe(3n);
    expect(divideHalfUp(11n, 3n)).toBe(4n);
  });
});

describe("feeFor", () => {
  it("is exact at the .5 boundaries: 25 bp of 200 = 0.5 → 1, of 199 = 0.4975 → 0, of 600 = 1.5 → 2", () => {
    const schedule = bp(25n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 200n)).toBe(1n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 199n)).toBe(0n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 201n)).toBe(1n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 599n)).toBe(1n); // 1.4975
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 600n)).toBe(2n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 0n)).toBe(0n);
  });

  it("adds the fixed part: 5 + 25 bp", () => {
    const schedule = bp(25n, 5n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 1n)).toBe(5n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 200n)).toBe(6n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 40_000n)).toBe(105n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 25_000n)).toBe(68n); // 62.5 → 63
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 3_000n)).toBe(13n); // 7.5 → 8
  });

  it("stays exact for amounts near int64", () => {
    // 9 223 372 036 854 775 807 × 25 / 10 000 = 23 058 430 092 136 939.5175 → …940
    expect(feeFor(bp(25n), "USD", ParticipantKind.BANK, INT64_MAX)).toBe(23_058_430_092_136_940n);
    // × 1 / 10 000 = 922 337 203 685 477.5807 → …478
    expect(feeFor(bp(1n), "USD", ParticipantKind.BANK, INT64_MAX)).toBe(922_337_203_685_478n);
    // 10 000 bp is the whole amount.
    expect(feeFor(bp(10_000n), "USD", ParticipantKind.BANK, INT64_MAX)).toBe(INT64_MAX);
    // 2^62 × 1 / 10 000 = 461 168 601 842 738.7904 → …739; 2^62 × 5 000 / 10 000 is exactly half.
    expect(feeFor(bp(1n), "USD", ParticipantKind.BANK, 2n ** 62n)).toBe(461_168_601_842_739n);
    expect(feeFor(bp(5_000n), "USD", ParticipantKind.BANK, 2n ** 62n)).toBe(2n ** 61n);
    // An odd amount at 5 000 bp: (2^63 − 1) / 2 = …903.5 → …904
    expect(feeFor(bp(5_000n), "USD", ParticipantKind.BANK, INT64_MAX)).toBe(4_611_686_018_427_387_904n);
  });

  it("applies the first rule that matches, in order", () => {
    const schedule: FeeSchedule = [
      rule("USD", "BANK", 1n, 10n),
      rule("USD", "*", 2n, 20n),
      rule("*", "*", 3n, 30n),
    ];
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 10_000n)).toBe(1n + 10n);
    expect(feeFor(schedule, "USD", ParticipantKind.WALLET_PROVIDER, 10_000n)).toBe(2n + 20n);
    expect(feeFor(schedule, "EUR", ParticipantKind.BANK, 10_000n)).toBe(3n + 30n);
    // A wildcard first shadows everything after it.
    const shadowed: FeeSchedule = [rule("*", "*", 3n, 30n), rule("USD", "BANK", 1n, 10n)];
    expect(feeFor(shadowed, "USD", ParticipantKind.BANK, 10_000n)).toBe(33n);
  });

  it("matches payer kinds by name and charges nothing when no rule matches", () => {
    const schedule = parseFeeSchedule(JSON.stringify([
      { currency: "USD", payer_kind: "WALLET_PROVIDER", fixed_minor: "2", basis_points: "50" },
      { currency: "USD", payer_kind: "MERCHANT_ACQUIRER", fixed_minor: 7, basis_points: 0 },
      { currency: "EUR", payer_kind: "BANK", fixed_minor: "1" },
    ]));
    expect(feeFor(schedule, "USD", ParticipantKind.WALLET_PROVIDER, 10_000n)).toBe(52n);
    expect(feeFor(schedule, "USD", ParticipantKind.MERCHANT_ACQUIRER, 10_000n)).toBe(7n);
    expect(feeFor(schedule, "USD", ParticipantKind.BANK, 10_000n)).toBe(0n);
    expect(feeFor(schedule, "EUR", ParticipantKind.BANK, 10_000n)).toBe(1n);
    expect(feeFor(schedule, "EUR", ParticipantKind.WALLET_PROVIDER, 10_000n)).toBe(0n);
    expect(feeFor(schedule, "USD", ParticipantKind.UNSPECIFIED, 10_000n)).toBe(0n);
    expect(feeFor([], "USD", ParticipantKind.BANK, 10_000n)).toBe(0n);
  });

  it("stays within half a unit of the exact fee, rounding halves up (property, exact rationals in bigint)", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.bigInt({ min: 0n, max: 1_000_000n }), fc.bigInt({ min: 0n, max: INT64_MAX })),
        fc.bigInt({ min: 0n, max: 10_000n }),
        fc.bigInt({ min: 0n, max: 1_000_000n }),
        (amount, basisPoints, fixedMinor) => {
          const fee = feeFor(bp(basisPoints, fixedMinor), "USD", ParticipantKind.BANK, amount);
          // exact = fixed + amount × bp / 10 000; compare 10 000 × fee with 10 000 × exact.
          const scaled = 10_000n * fee;
          const exact = 10_000n * fixedMinor + amount * basisPoints;
          expect(scaled <= exact + 10_000n).toBe(true); // fee ≤ exact + 1
          expect(scaled >= exact - 5_000n).toBe(true); // fee ≥ exact − 0.5
          // Tighter, as half-up rounding promises: fee − exact ∈ (−0.5, 0.5].
          expect(scaled - exact > -5_000n && scaled - exact <= 5_000n).toBe(true);
          // The same as an independent quotient-and-remainder rounding.
          const quotient = (amount * basisPoints) / 10_000n;
          const remainder = (amount * basisPoints) % 10_000n;
          expect(fee).toBe(fixedMinor + quotient + (remainder * 2n >= 10_000n ? 1n : 0n));
          // Never more than the fixed part plus the amount itself; never below the fixed part.
          expect(fee >= fixedMinor && fee <= fixedMinor + amount).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("does not decrease as the amount grows (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.bigInt({ min: 0n, max: 10_000n }), (amount, basisPoints) => {
        const schedule = bp(basisPoints, 5n);
        expect(feeFor(schedule, "USD", ParticipantKind.BANK, amount + 1n) >= feeFor(schedule, "USD", ParticipantKind.BANK, amount)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe("parseFeeSchedule", () => {
  it("parses rules with defaults: a missing currency or kind is '*', missing amounts are 0", () => {
    expect(parseFeeSchedule("[]")).toEqual([]);
    expect(parseFeeSchedule(JSON.stringify([{ currency: "USD", payer_kind: "BANK", fixed_minor: "5", basis_points: "25" }, {}])))
      .toEqual([rule("USD", "BANK", 5n, 25n), rule("*", "*", 0n, 0n)]);
    expect(parseFeeSchedule(JSON.stringify([{ basis_points: 10_000 }]))).toEqual([rule("*", "*", 0n, 10_000n)]);
    expect(parseFeeSchedule(JSON.stringify([{ fixed_minor: "999999999999999999" }]))[0]!.fixedMinor).toBe(999_999_999_999_999_999n);
  });

  it("refuses text that is not JSON, or not an array", () => {
    expect(() => parseFeeSchedule("not json")).toThrow(SyntaxError);
    expect(() => parseFeeSchedule("")).toThrow(SyntaxError);
    expect(() => parseFeeSchedule("{}")).toThrow(/JSON array/);
    expect(() => parseFeeSchedule('"[]"')).toThrow(/JSON array/);
  });

  it("refuses a currency that is not an upper-case ISO 4217 code or '*'", () => {
    for (const currency of ["usd", "US", "USDX", "U$D", "", "**"]) {
      expect(() => parseFeeSchedule(JSON.stringify([{ currency }])), currency).toThrow(/rule 0: currency/);
    }
    expect(() => parseFeeSchedule(JSON.stringify([{ currency: "USD" }, { currency: "eur" }]))).toThrow(/rule 1: currency/);
  });

  it("refuses negative, fractional, non-numeric or too long amounts", () => {
    for (const fixed of ["-1", -1, "1.5", 1.5, "abc", "", "1e3", "1234567890123456789", true]) {
      expect(() => parseFeeSchedule(JSON.stringify([{ fixed_minor: fixed }])), String(fixed)).toThrow(/fixed_minor must be a non-negative integer/);
    }
    expect(() => parseFeeSchedule(JSON.stringify([{ basis_points: "-25" }]))).toThrow(/basis_points must be a non-negative integer/);
  });

  it("refuses more than 10 000 basis points; exactly 10 000 is accepted", () => {
    expect(() => parseFeeSchedule(JSON.stringify([{ basis_points: "10001" }]))).toThrow(/at most 10000 basis points/);
    expect(parseFeeSchedule(JSON.stringify([{ basis_points: "10000" }]))[0]!.basisPoints).toBe(10_000n);
  });

  it("refuses a payer kind that is not a participant kind name", () => {
    for (const payerKind of ["BANKS", "bank", "", "1", "0", "toString", "constructor", "__proto__"]) {
      expect(() => parseFeeSchedule(JSON.stringify([{ payer_kind: payerKind }])), payerKind).toThrow(/rule 0: payer_kind/);
    }
    for (const payerKind of ["BANK", "WALLET_PROVIDER", "MERCHANT_ACQUIRER", "FX_PROVIDER", "*"]) {
      expect(parseFeeSchedule(JSON.stringify([{ payer_kind: payerKind }]))[0]!.payerKind).toBe(payerKind);
    }
  });

  it("refuses a rule that is not an object", () => {
    for (const bad of [[1], ["x"], [null], [[]]]) {
      expect(() => parseFeeSchedule(JSON.stringify(bad)), JSON.stringify(bad)).toThrow(/rule 0: must be an object/);
    }
  });
});

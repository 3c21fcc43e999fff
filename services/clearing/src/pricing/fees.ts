// The hub's fee schedule: fixed minor units plus basis points of the amount, per currency and
// payer kind, computed exactly with half-up rounding on the minor unit (PROTOCOL.md §2).
import { ParticipantKind } from "@clearmesh/contracts";

export interface FeeRule {
  /** ISO 4217 code, or "*" for any. */
  currency: string;
  /** Payer kind name as in ParticipantKind (e.g. "BANK"), or "*" for any. */
  payerKind: string;
  fixedMinor: bigint;
  /** 1 basis point = 0.01 %. */
  basisPoints: bigint;
}

export type FeeSchedule = readonly FeeRule[];

/**
 * Parses FEE_SCHEDULE: a JSON array of {"currency", "payer_kind", "fixed_minor", "basis_points"};
 * the first rule that matches a transfer applies; no rule = no fee.
 */
export function parseFeeSchedule(text: string): FeeSchedule {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new Error("must be a JSON array of fee rules");
  return parsed.map((rule: Record<string, unknown>, index) => {
    if (typeof rule !== "object" || rule === null || Array.isArray(rule)) throw new Error(`rule ${index}: must be an object`);
    const currency = String(rule.currency ?? "*");
    const payerKind = String(rule.payer_kind ?? "*");
    if (currency !== "*" && !/^[A-Z]{3}$/.test(currency)) throw new Error(`rule ${index}: currency must be an ISO 4217 code or "*"`);
    // A kind name maps to a number; "1" (the enum's reverse mapping) or "toString" would never match.
    if (payerKind !== "*" && typeof (ParticipantKind as unknown as Record<string, unknown>)[payerKind] !== "number") {
      throw new Error(`rule ${index}: payer_kind must be a participant kind name or "*"`);
    }
    const fixedMinor = integer(rule.fixed_minor ?? "0", `rule ${index}: fixed_minor`);
    const basisPoints = integer(rule.basis_points ?? "0", `rule ${index}: basis_points`);
    if (fixedMinor < 0n || basisPoints < 0n || basisPoints > 10_000n) throw new Error(`rule ${index}: fees must be non-negative and at most 10000 basis points`);
    return { currency, payerKind, fixedMinor, basisPoints };
  });
}

function integer(value: unknown, name: string): bigint {
  const text = String(value);
  if (!/^\d{1,18}$/.test(text)) throw new Error(`${name} must be a non-negative integer`);
  return BigInt(text);
}

/** fee = fixed + round_half_up(amount × basis_points / 10 000). */
export function feeFor(schedule: FeeSchedule, currency: string, payerKind: ParticipantKind, amountMinor: bigint): bigint {
  const kindName = ParticipantKind[payerKind];
  const rule = schedule.find((candidate) => (candidate.currency === "*" || candidate.currency === currency) && (candidate.payerKind === "*" || candidate.payerKind === kindName));
  if (!rule) return 0n;
  return rule.fixedMinor + divideHalfUp(amountMinor * rule.basisPoints, 10_000n);
}

/** Integer division rounding halves up, for non-negative numerators. */
export function divideHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n);
}

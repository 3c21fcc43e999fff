// Card numbers and expiry, pure. A PAN is 12 to 19 digits ending in its Luhn check digit; a card
// is valid through the last day of its expiry month (UTC) and expired from the first instant of
// the next month.
import { isLuhnValid } from "../accounts/numbers.js";

export const MIN_PAN_DIGITS = 12;
export const MAX_PAN_DIGITS = 19;
export const MIN_EXPIRY_YEAR = 2000;
export const MAX_EXPIRY_YEAR = 2199;

/** Why a PAN is not a card number, or undefined when it is one (the PAN itself is never part of the answer). */
export function panProblem(pan: string): string | undefined {
  if (!/^\d+$/.test(pan)) return "must be digits only";
  if (pan.length < MIN_PAN_DIGITS || pan.length > MAX_PAN_DIGITS) return `must be ${MIN_PAN_DIGITS} to ${MAX_PAN_DIGITS} digits`;
  if (!isLuhnValid(pan)) return "fails the Luhn check";
  return undefined;
}

export function expiryProblem(month: number, year: number): { field: string; problem: string } | undefined {
  if (!Number.isInteger(month) || month < 1 || month > 12) return { field: "expiry_month", problem: "must be 1 to 12" };
  if (!Number.isInteger(year) || year < MIN_EXPIRY_YEAR || year > MAX_EXPIRY_YEAR) return { field: "expiry_year", problem: `must be a four-digit year from ${MIN_EXPIRY_YEAR} to ${MAX_EXPIRY_YEAR}` };
  return undefined;
}

/** Whether the card has expired at `nowMs`: from 00:00 UTC on the first day after its expiry month. */
export function cardExpired(month: number, year: number, nowMs: number): boolean {
  // Date.UTC counts months from 0, so (year, month) is the month after the expiry month.
  return nowMs >= Date.UTC(year, month, 1);
}

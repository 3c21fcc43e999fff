// Account numbers, pure. An account number is 15 digits:
//
//   BBBB NNNNNNNNNN C
//
// - BBBB: the bank code, the first four decimal digits of the SHA-256 of the bank's participant
//   id read as a big-endian integer (mod 10 000), so it needs no configuration and is the same on
//   every instance;
// - NNNNNNNNNN: the bank's account sequence (1, 2, …) zero-padded to ten digits, from a counter
//   row advanced by one conditional statement, so numbers never repeat even with several
//   instances on one PostgreSQL;
// - C: the Luhn (mod 10) check digit over the fourteen digits before it, which catches every
//   single wrong digit and most swaps of neighbours; the same check the card vault uses on PANs.
import { createHash } from "node:crypto";

export const BANK_CODE_DIGITS = 4;
export const ACCOUNT_SEQUENCE_DIGITS = 10;
export const ACCOUNT_NUMBER_DIGITS = BANK_CODE_DIGITS + ACCOUNT_SEQUENCE_DIGITS + 1;
export const MAX_ACCOUNT_SEQUENCE = 10n ** BigInt(ACCOUNT_SEQUENCE_DIGITS) - 1n;

/** The Luhn check digit to append to `payload` (digits only). */
export function luhnCheckDigit(payload: string): number {
  if (!/^\d+$/.test(payload)) throw new TypeError("the Luhn payload must be digits");
  let sum = 0;
  // From the right, every other digit starting with the rightmost payload digit is doubled.
  for (let index = 0; index < payload.length; index += 1) {
    let digit = payload.charCodeAt(payload.length - 1 - index) - 48;
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

/** Whether a digit string ends in its Luhn check digit. */
export function isLuhnValid(number: string): boolean {
  if (!/^\d{2,}$/.test(number)) return false;
  return luhnCheckDigit(number.slice(0, -1)) === number.charCodeAt(number.length - 1) - 48;
}

export function bankCode(bankId: string): string {
  const digest = createHash("sha256").update(bankId, "utf8").digest();
  return (BigInt(`0x${digest.toString("hex")}`) % 10n ** BigInt(BANK_CODE_DIGITS)).toString().padStart(BANK_CODE_DIGITS, "0");
}

export function accountNumber(bankId: string, sequence: bigint): string {
  if (sequence < 1n || sequence > MAX_ACCOUNT_SEQUENCE) throw new RangeError(`account sequence ${sequence} is outside 1..${MAX_ACCOUNT_SEQUENCE}`);
  const payload = bankCode(bankId) + sequence.toString().padStart(ACCOUNT_SEQUENCE_DIGITS, "0");
  return payload + String(luhnCheckDigit(payload));
}

/** Whether a text is a well-formed account number of this bank (length, bank code, check digit). */
export function isAccountNumberOf(bankId: string, number: string): boolean {
  return number.length === ACCOUNT_NUMBER_DIGITS && number.startsWith(bankCode(bankId)) && isLuhnValid(number);
}

// TOTP (RFC 6238) over HOTP (RFC 4226) with node:crypto, base32 (RFC 4648) for secrets, and the
// otpauth:// URI authenticator apps read. Pure: the time is an argument.
import { createHmac, randomBytes } from "node:crypto";

export type TotpAlgorithm = "sha1" | "sha256" | "sha512";

export interface TotpParameters {
  algorithm: TotpAlgorithm;
  digits: number;
  stepSeconds: number;
}

/** What the wallet issues: the parameters every authenticator app supports. */
export const WALLET_TOTP: TotpParameters = { algorithm: "sha1", digits: 6, stepSeconds: 30 };
/** 160-bit secrets, as RFC 4226 recommends for HMAC-SHA1. */
export const TOTP_SECRET_BYTES = 20;
/** Steps either side of now a code is accepted for (clock drift between phone and server). */
export const TOTP_DRIFT_STEPS = 1;

/** The time step counter for a Unix time in seconds. */
export function totpStep(unixSeconds: number, stepSeconds: number): number {
  return Math.floor(unixSeconds / stepSeconds);
}

/** HOTP: dynamic truncation of HMAC(secret, counter as 8 bytes big-endian), as `digits` decimal digits. */
export function hotp(secret: Uint8Array, counter: number, algorithm: TotpAlgorithm, digits: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, secret).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

export function totp(secret: Uint8Array, unixSeconds: number, parameters: TotpParameters = WALLET_TOTP): string {
  return hotp(secret, totpStep(unixSeconds, parameters.stepSeconds), parameters.algorithm, parameters.digits);
}

/**
 * The step a code matches within the drift window, newer than `lastUsedStep` (a code is good
 * once), or undefined. Compares every candidate so the time taken does not depend on which matched.
 */
export function matchTotp(secret: Uint8Array, code: string, unixSeconds: number, lastUsedStep: number, parameters: TotpParameters = WALLET_TOTP): number | undefined {
  if (!new RegExp(`^\\d{${parameters.digits}}$`).test(code)) return undefined;
  const now = totpStep(unixSeconds, parameters.stepSeconds);
  let matched: number | undefined;
  for (let step = now - TOTP_DRIFT_STEPS; step <= now + TOTP_DRIFT_STEPS; step += 1) {
    const same = hotp(secret, step, parameters.algorithm, parameters.digits) === code;
    if (same && step > lastUsedStep && matched === undefined) matched = step;
  }
  return matched;
}

export function generateTotpSecret(): Uint8Array {
  return new Uint8Array(randomBytes(TOTP_SECRET_BYTES));
}

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding (as otpauth URIs carry it). */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let output = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      output += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) output += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return output;
}

export function base32Decode(text: string): Uint8Array {
  const clean = text.replace(/=+$/, "").toUpperCase();
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32_ALPHABET.indexOf(char);
    if (index < 0) throw new Error("not base32");
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return new Uint8Array(bytes);
}

/** otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30 (Key Uri Format). */
export function otpauthUri(secret: Uint8Array, issuer: string, accountName: string, parameters: TotpParameters = WALLET_TOTP): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(accountName)}`;
  const query = new URLSearchParams({
    secret: base32Encode(secret), issuer, algorithm: parameters.algorithm.toUpperCase(), digits: String(parameters.digits), period: String(parameters.stepSeconds),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}

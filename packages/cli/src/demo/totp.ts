// RFC 6238 TOTP (over RFC 4226 HOTP) with node:crypto, as an authenticator app computes it from
// the otpauth:// URI the wallet returns on EnrollTotp.
import { createHmac } from "node:crypto";

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, "").replace(/\s+/g, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const char of clean) {
    const index = BASE32_ALPHABET.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(bytes);
}

/** The parameters of an otpauth://totp/ URI (SHA1, 6 digits, 30 s unless it says otherwise). */
export function parseOtpauthUri(uri: string): { secret: Buffer; digits: number; period: number; algorithm: string } {
  const url = new URL(uri);
  if (url.protocol !== "otpauth:") throw new Error("not an otpauth:// URI");
  const secret = url.searchParams.get("secret");
  if (!secret) throw new Error("the otpauth URI has no secret");
  return {
    secret: base32Decode(secret),
    digits: Number(url.searchParams.get("digits") ?? 6),
    period: Number(url.searchParams.get("period") ?? 30),
    algorithm: (url.searchParams.get("algorithm") ?? "SHA1").toLowerCase(),
  };
}

export function hotp(secret: Buffer, counter: bigint, digits = 6, algorithm = "sha1"): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const digest = createHmac(algorithm, secret).update(message).digest();
  const offset = digest[digest.length - 1]! & 0x0f;
  const binary = ((digest[offset]! & 0x7f) << 24) | (digest[offset + 1]! << 16) | (digest[offset + 2]! << 8) | digest[offset + 3]!;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** The code for the time step `stepOffset` steps from now's. */
export function totpFromUri(uri: string, nowMs = Date.now(), stepOffset = 0): string {
  const { secret, digits, period, algorithm } = parseOtpauthUri(uri);
  const step = BigInt(Math.floor(nowMs / 1000 / period) + stepOffset);
  return hotp(secret, step, digits, algorithm);
}

// One-time codes and mandate tokens. A code is 6 random decimal digits (crypto.randomInt); only
// its scrypt hash is stored, with a random salt per mandate, so a stolen table does not give the
// codes away and each guess costs tens of milliseconds. A mandate token is 32 random bytes in
// base64url, returned once; only its SHA-256 is stored (a token has 256 bits, no salt needed).
import { createHash, randomBytes, randomInt, scrypt, timingSafeEqual } from "node:crypto";

export const CODE_DIGITS = 6;
export const CODE_PATTERN = /^\d{6}$/;
const CODE_SALT_BYTES = 16;
const CODE_HASH_BYTES = 32;
/** scrypt cost: 16 MiB and ~30 ms per hash; bounded so a burst of confirms cannot exhaust memory. */
const SCRYPT_OPTIONS = { N: 16_384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const TOKEN_BYTES = 32;

export function newCode(): string {
  return randomInt(0, 10 ** CODE_DIGITS).toString().padStart(CODE_DIGITS, "0");
}

function scryptHash(code: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(code, salt, CODE_HASH_BYTES, SCRYPT_OPTIONS, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashCode(code: string): Promise<{ hash: string; salt: string }> {
  const salt = randomBytes(CODE_SALT_BYTES);
  return { hash: (await scryptHash(code, salt)).toString("base64url"), salt: salt.toString("base64url") };
}

export async function codeMatches(code: string, hash: string, salt: string): Promise<boolean> {
  const expected = Buffer.from(hash, "base64url");
  const actual = await scryptHash(code, Buffer.from(salt, "base64url"));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export function newMandateToken(): { token: string; tokenHash: string } {
  const token = randomBytes(TOKEN_BYTES).toString("base64url");
  return { token, tokenHash: mandateTokenHash(token) };
}

export function mandateTokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

// Passwords: the policy (at least 12 characters, not a common password) and scrypt hashes from
// node:crypto with a salt per hash and the cost parameters stored in the hash, so the cost can be
// raised later and old hashes still verify (a login rehashes them at the new cost).
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { WalletError } from "../errors.js";
import { COMMON_PASSWORDS } from "./common-passwords.js";

export const MIN_PASSWORD_CHARS = 12;
/** Longer inputs only cost hashing time; nobody types more. */
export const MAX_PASSWORD_CHARS = 1_024;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;
const FORMAT = "scrypt";

export interface ScryptParameters {
  cost: number;
  blockSize: number;
  parallelization: number;
}

/** The shipped list of common passwords, lower-cased (services/wallet/src/users/common-passwords.ts), or another list in its format. */
export function loadCommonPasswords(text = COMMON_PASSWORDS): ReadonlySet<string> {
  return new Set(text.split("\n").map((line) => line.trim().toLowerCase()).filter((line) => line !== "" && !line.startsWith("#")));
}

/** WEAK_PASSWORD (naming the field) unless the password meets the policy. */
export function checkPasswordPolicy(field: string, password: string, common: ReadonlySet<string>): void {
  if ([...password].length < MIN_PASSWORD_CHARS) throw new WalletError("WEAK_PASSWORD", `${field} must be at least ${MIN_PASSWORD_CHARS} characters`, { field });
  if (password.length > MAX_PASSWORD_CHARS) throw new WalletError("WEAK_PASSWORD", `${field} must be at most ${MAX_PASSWORD_CHARS} characters`, { field });
  if (common.has(password.toLowerCase())) throw new WalletError("WEAK_PASSWORD", `${field} is too common; choose another`, { field });
}

function derive(password: string, salt: Uint8Array, parameters: ScryptParameters): Promise<Buffer> {
  const options: ScryptOptions = {
    N: parameters.cost, r: parameters.blockSize, p: parameters.parallelization,
    // scrypt needs 128·N·r·p bytes; leave headroom over node's 32 MiB default.
    maxmem: 256 * parameters.cost * parameters.blockSize * parameters.parallelization,
  };
  return new Promise((resolve, reject) => scrypt(password.normalize("NFC"), salt, HASH_BYTES, options, (error, key) => (error ? reject(error) : resolve(key))));
}

/** `scrypt$N=<cost>,r=8,p=1$<base64 salt>$<base64 hash>`. */
export async function hashPassword(password: string, cost: number): Promise<string> {
  const parameters = { cost, blockSize: BLOCK_SIZE, parallelization: PARALLELISM };
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, parameters);
  return `${FORMAT}$N=${parameters.cost},r=${parameters.blockSize},p=${parameters.parallelization}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export function parsePasswordHash(stored: string): { parameters: ScryptParameters; salt: Buffer; hash: Buffer } | undefined {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!match) return undefined;
  return {
    parameters: { cost: Number(match[1]), blockSize: Number(match[2]), parallelization: Number(match[3]) },
    salt: Buffer.from(match[4]!, "base64"),
    hash: Buffer.from(match[5]!, "base64"),
  };
}

/** Whether the password matches; a malformed stored hash never matches. Constant-time compare. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed || password.length > MAX_PASSWORD_CHARS) return false;
  const candidate = await derive(password, parsed.salt, parsed.parameters);
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}

/** Whether a hash was made with a lower cost than the one configured now. */
export function needsRehash(stored: string, cost: number): boolean {
  const parsed = parsePasswordHash(stored);
  return !parsed || parsed.parameters.cost < cost || parsed.parameters.blockSize < BLOCK_SIZE;
}

/**
 * A hash of a random password at the configured cost, verified against when the e-mail is
 * unknown, so an unknown e-mail takes as long as a wrong password.
 */
export async function decoyHash(cost: number): Promise<string> {
  return hashPassword(randomBytes(32).toString("base64"), cost);
}

import { randomFillSync } from "node:crypto";

// Random bytes for values that are public once used: request nonces, event ids, the nonces of
// sealed values. node:crypto's randomBytes makes a job object and asks OpenSSL once per call;
// these come from a pool refilled 4 KiB at a time from the same CSPRNG, so a call is a copy.
// Keys, salts, tokens and anything else secret keep calling randomBytes directly: the pool's
// bytes stay in memory until the next refill overwrites them.

const POOL_BYTES = 4096;
/** Larger requests bypass the pool. */
const MAX_POOLED_BYTES = 64;

const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** `size` fresh random bytes, a copy the caller owns. For public values only (see above). */
export function publicRandomBytes(size: number): Uint8Array {
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`);
  if (size > MAX_POOLED_BYTES) return randomFillSync(new Uint8Array(size));
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + size);
  offset += size;
  return new Uint8Array(bytes);
}

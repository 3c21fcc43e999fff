// What every Ed25519 verification here refuses before the arithmetic, whichever library then
// runs it: a public key that is not canonically encoded (y ≥ p), and a public key or a
// signature's R of small order (the eight points whose multiples by 8 vanish). libsodium
// refuses exactly these on top of RFC 8032's equation; OpenSSL does not, and accepts, for
// instance, any message under the identity as public key with R = identity and S = 0. Checked
// first on every path, the two libraries give the same verdicts, so a signature cannot pass on
// the thread pool (OpenSSL) and fail in place (libsodium). No honest key or signature is of
// small order.

const P = (1n << 255n) - 19n;
/** The y of the order-8 points (the other is p − y); keys.test.ts derives both from the curve. */
const ORDER_8_Y = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;

function littleEndian32(value: bigint): Uint8Array {
  const bytes = new Uint8Array(32);
  for (let index = 0; index < 32; index += 1) bytes[index] = Number((value >> BigInt(8 * index)) & 0xffn);
  return bytes;
}

/**
 * Every encoding of a small-order point, sign bit cleared: y = 0 (order 4), 1 (the identity),
 * p − 1 (order 2), the two order-8 y values, and the non-canonical p and p + 1 (0 and 1 again).
 */
export const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [0n, 1n, ORDER_8_Y, P - ORDER_8_Y, P - 1n, P, P + 1n].map(littleEndian32);

/** Whether a 32-byte point encoding is one of a small-order point, whatever its sign bit. */
export function hasSmallOrder(encoding: Uint8Array): boolean {
  for (const candidate of SMALL_ORDER_ENCODINGS) {
    let same = (encoding[31]! & 0x7f) === candidate[31];
    for (let index = 0; same && index < 31; index += 1) same = encoding[index] === candidate[index];
    if (same) return true;
  }
  return false;
}

/** Whether a 32-byte point encoding has y < p (its sign bit aside). */
export function isCanonicalEncoding(encoding: Uint8Array): boolean {
  if ((encoding[31]! & 0x7f) !== 0x7f) return true;
  for (let index = 30; index > 0; index -= 1) if (encoding[index] !== 0xff) return true;
  return encoding[0]! < 0xed;
}

/**
 * Whether a public key can ever verify here: 32 bytes, canonically encoded, not of small order.
 * Clearing refuses any other key when it is registered, since no signature under it would pass.
 */
export function usableEd25519PublicKey(publicKey: Uint8Array): boolean {
  return publicKey.length === 32 && isCanonicalEncoding(publicKey) && !hasSmallOrder(publicKey);
}

/** The checks above for a public key and a signature (its R is the first 32 bytes). */
export function acceptablePoints(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return usableEd25519PublicKey(publicKey) && !hasSmallOrder(signature.subarray(0, 32));
}

// Ed25519's small-order points and non-canonical keys are refused on every verification path, so
// libsodium (in place) and OpenSSL (node:crypto, on the thread pool) give the same verdicts.
import { createPublicKey, verify as opensslVerify } from "node:crypto";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createSigningKey, ed25519Verify, ed25519VerifyAsync, generateSeed, setSignatureVerification, toHex, utf8 } from "../src/index.js";
import { SMALL_ORDER_ENCODINGS, hasSmallOrder, isCanonicalEncoding, usableEd25519PublicKey } from "../src/points.js";

const P = (1n << 255n) - 19n;
const mod = (value: bigint) => ((value % P) + P) % P;
function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}
const inverse = (value: bigint) => power(value, P - 2n);
function squareRoot(value: bigint): bigint | undefined {
  const a = mod(value);
  const candidate = power(a, (P + 3n) / 8n);
  if (mod(candidate * candidate - a) === 0n) return candidate;
  const other = (candidate * power(2n, (P - 1n) / 4n)) % P;
  return mod(other * other - a) === 0n ? other : undefined;
}
const littleEndian = (value: bigint) => Uint8Array.from({ length: 32 }, (_, index) => Number((value >> BigInt(8 * index)) & 0xffn));

/** The y of every small-order point of -x² + y² = 1 + d·x²·y², from the curve itself. */
function smallOrderYs(): bigint[] {
  const d = mod(-121665n * inverse(121666n));
  // Order 1: (0, 1); order 2: (0, -1); order 4: (±√-1, 0). Order 8: doubling gives y = 0, so
  // x² = -y², and the curve's equation becomes d·y⁴ + 2·y² - 1 = 0.
  const ys = [1n, P - 1n, 0n];
  const root = squareRoot(1n + d)!;
  for (const y2 of [mod((-1n + root) * inverse(d)), mod((-1n - root) * inverse(d))]) {
    const y = squareRoot(y2);
    if (y !== undefined && squareRoot(mod(-y2)) !== undefined) ys.push(y, P - y);
  }
  return ys;
}

const everyPath = async (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => {
  setSignatureVerification("thread-pool");
  const pool = await ed25519VerifyAsync(publicKey, message, signature);
  setSignatureVerification("event-loop");
  const inPlace = await ed25519VerifyAsync(publicKey, message, signature);
  setSignatureVerification("verifier-thread");
  const onVerifierThread = await ed25519VerifyAsync(publicKey, message, signature);
  return [ed25519Verify(publicKey, message, signature), pool, inPlace, onVerifierThread];
};

describe("small-order points and non-canonical keys", () => {
  afterAll(() => setSignatureVerification("verifier-thread"));

  it("the refused encodings are the curve's eight small-order points, and p and p + 1", () => {
    const derived = smallOrderYs();
    expect(derived).toHaveLength(5);
    const expected = [...derived, P, P + 1n].map((y) => toHex(littleEndian(y))).sort();
    expect(SMALL_ORDER_ENCODINGS.map(toHex).sort()).toEqual(expected);
    for (const encoding of SMALL_ORDER_ENCODINGS) {
      const signed = Uint8Array.from(encoding);
      signed[31]! |= 0x80;
      expect([hasSmallOrder(encoding), hasSmallOrder(signed)]).toEqual([true, true]);
    }
  });

  it("OpenSSL alone accepts any message under the identity as key; no path here does", async () => {
    const identity = littleEndian(1n);
    const signature = new Uint8Array(64);
    signature.set(identity, 0); // R = identity, S = 0
    const message = utf8("pay 1,000,000 to mallory");
    const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), identity]);
    expect(opensslVerify(null, message, createPublicKey({ key: spki, format: "der", type: "spki" }), signature)).toBe(true);
    expect(await everyPath(identity, message, signature)).toEqual([false, false, false, false]);
  });

  it("a small-order R or key, or a key with y ≥ p, is refused on every path; honest signatures pass on every path", async () => {
    const key = createSigningKey("bank-a", "bank-a-1", generateSeed());
    const message = utf8("pay 100");
    const signature = key.sign(message);
    expect(await everyPath(key.publicKey, message, signature)).toEqual([true, true, true, true]);
    for (const encoding of SMALL_ORDER_ENCODINGS) {
      const badR = Uint8Array.from(signature);
      badR.set(encoding, 0);
      expect(await everyPath(key.publicKey, message, badR)).toEqual([false, false, false, false]);
      expect(await everyPath(encoding, message, signature)).toEqual([false, false, false, false]);
    }
    for (let y = P + 2n; y < 1n << 255n; y += 1n) {
      const nonCanonical = littleEndian(y);
      expect(isCanonicalEncoding(nonCanonical)).toBe(false);
      expect(await everyPath(nonCanonical, message, signature)).toEqual([false, false, false, false]);
    }
    expect(isCanonicalEncoding(littleEndian(P - 1n))).toBe(true);
    expect(isCanonicalEncoding(key.publicKey)).toBe(true);
  });

  it("tells which public keys can ever verify (what clearing registers)", () => {
    expect(usableEd25519PublicKey(createSigningKey("bank-a", "k1", generateSeed()).publicKey)).toBe(true);
    for (const encoding of SMALL_ORDER_ENCODINGS) expect(usableEd25519PublicKey(encoding)).toBe(false);
    expect(usableEd25519PublicKey(littleEndian(P + 2n))).toBe(false);
    expect(usableEd25519PublicKey(new Uint8Array(31))).toBe(false);
    expect(usableEd25519PublicKey(new Uint8Array(33).fill(9))).toBe(false);
  });

  it("every path gives the same verdict on random keys, messages and tampering (300 runs)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), fc.nat(64 * 8 + 2), async (seed, message, flip) => {
        const key = createSigningKey("bank-a", "k1", seed);
        const signature = key.sign(message);
        const publicKey = Uint8Array.from(key.publicKey);
        // flip < 512 flips one bit of the signature; 512 a bit of the key; 513 and 514 leave them whole.
        if (flip < 512) signature[flip >> 3]! ^= 1 << (flip & 7);
        else if (flip === 512) publicKey[seed[0]! % 32]! ^= 1;
        const verdicts = await everyPath(publicKey, message, signature);
        expect(new Set(verdicts).size).toBe(1);
        if (flip > 512) expect(verdicts[0]).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

import { createPrivateKey, createPublicKey, randomBytes, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { inspect } from "node:util";
import { copyBytes, toHex } from "./encoding.js";
import { KeyFormatError } from "./errors.js";
import { acceptablePoints } from "./points.js";
import { sodium } from "./sodium.js";
import { verifyOnVerifierThread } from "./verifier-thread.js";

/** NaCl / RFC 8032 private key format: the 32-byte seed. */
export type Seed = Uint8Array;

export const SEED_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** Public keys are cached as KeyObjects because parsing one costs about as much as a verify. */
export const PUBLIC_KEY_CACHE_MAX_ENTRIES = 10_000;

// DER wrappers that turn raw NaCl keys into what node:crypto imports (RFC 8410).
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface SigningKey {
  participantId: string;
  keyId: string;
  seed: Uint8Array;
  publicKey: Uint8Array;
  /**
   * Signs on the calling thread. Signing is not handed off as verification is: a
   * signature costs about 40 µs here, less than the hand-over and the wait cost the event loop.
   */
  sign(message: Uint8Array): Uint8Array;
}

export function generateSeed(): Uint8Array {
  return copyBytes(randomBytes(SEED_BYTES));
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new TypeError(`Ed25519 seed must be ${SEED_BYTES} bytes`);
  }
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
}

function publicKeyBytes(privateKey: KeyObject): Uint8Array {
  const der = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return copyBytes(der.subarray(SPKI_ED25519_PREFIX.length));
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return publicKeyBytes(privateKeyObject(seed));
}

/**
 * Which library signs and verifies in place: "libsodium" (sodium-native) when it loads, else
 * "node:crypto". The verifier thread is used only with libsodium; libuv's thread pool always uses
 * node:crypto.
 */
export function ed25519Library(): "libsodium" | "node:crypto" {
  return sodium ? "libsodium" : "node:crypto";
}

/** Keeps the private KeyObject; the seed is reachable but not enumerable, so logging the key never prints it. */
class Ed25519SigningKey implements SigningKey {
  readonly participantId: string;
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;
  readonly #privateKey: KeyObject;
  /** libsodium's secret key (seed ‖ public key), when libsodium signs. */
  readonly #sodiumKey: Uint8Array | undefined;

  constructor(participantId: string, keyId: string, seed: Uint8Array) {
    this.#privateKey = privateKeyObject(seed);
    this.#seed = copyBytes(seed);
    this.participantId = participantId;
    this.keyId = keyId;
    this.publicKey = publicKeyBytes(this.#privateKey);
    if (sodium) {
      const publicKey = new Uint8Array(PUBLIC_KEY_BYTES);
      this.#sodiumKey = new Uint8Array(SEED_BYTES + PUBLIC_KEY_BYTES);
      sodium.crypto_sign_seed_keypair(publicKey, this.#sodiumKey, this.#seed);
      // The two libraries derive the same public key from a seed; anything else is a broken build.
      if (Buffer.compare(publicKey, this.publicKey) !== 0) throw new Error("libsodium and node:crypto derive different Ed25519 public keys");
    }
  }

  get seed(): Uint8Array {
    return copyBytes(this.#seed);
  }

  sign(message: Uint8Array): Uint8Array {
    if (this.#sodiumKey) {
      const signature = new Uint8Array(SIGNATURE_BYTES);
      sodium!.crypto_sign_detached(signature, message, this.#sodiumKey);
      return signature;
    }
    return copyBytes(sign(null, message, this.#privateKey));
  }

  toJSON(): { participantId: string; keyId: string; publicKey: string } {
    return { participantId: this.participantId, keyId: this.keyId, publicKey: toHex(this.publicKey) };
  }

  [inspect.custom](): string {
    return `SigningKey(${this.participantId}/${this.keyId})`;
  }
}

export function createSigningKey(participantId: string, keyId: string, seed: Uint8Array): SigningKey {
  return new Ed25519SigningKey(participantId, keyId, seed);
}

/** One-shot signing; hot paths keep a SigningKey instead, which parses the seed once. */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return copyBytes(sign(null, message, privateKeyObject(seed)));
}

const publicKeyCache = new Map<string, KeyObject>();

function cachedPublicKey(publicKey: Uint8Array): KeyObject {
  const cacheKey = toHex(publicKey);
  const cached = publicKeyCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const der = Buffer.concat([SPKI_ED25519_PREFIX, publicKey]);
  const keyObject = createPublicKey({ key: der, format: "der", type: "spki" });
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX_ENTRIES) {
    // Map iterates in insertion order, so the first key is the oldest entry.
    const oldest = publicKeyCache.keys().next().value;
    if (oldest !== undefined) publicKeyCache.delete(oldest);
  }
  publicKeyCache.set(cacheKey, keyObject);
  return keyObject;
}

/** What both verifications check before any library runs: types, lengths, and points.ts. */
function verifiable(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return publicKey instanceof Uint8Array && publicKey.length === PUBLIC_KEY_BYTES
    && signature instanceof Uint8Array && signature.length === SIGNATURE_BYTES
    && message instanceof Uint8Array
    && acceptablePoints(publicKey, signature);
}

/**
 * Never throws: wrong lengths, keys that cannot be decoded and points refused by points.ts
 * verify as false. libsodium verifies when it loads (about 40 µs against node:crypto's 90 here),
 * node:crypto otherwise; with points.ts checked first, both give the same verdicts.
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!verifiable(publicKey, message, signature)) return false;
  try {
    if (sodium) return sodium.crypto_sign_verify_detached(signature, message, publicKey);
    return verify(null, message, cachedPublicKey(publicKey), signature);
  } catch {
    return false;
  }
}

export type SignatureVerification = "verifier-thread" | "thread-pool" | "event-loop";

const PLACEMENTS: readonly SignatureVerification[] = ["verifier-thread", "thread-pool", "event-loop"];

let placement: SignatureVerification = "verifier-thread";

/**
 * Where ed25519VerifyAsync (and so every verification of a call or an answer) runs, for the
 * whole process. "verifier-thread", the default: a thread of the process's own, libsodium when it
 * loads, fed in batches (verifier-thread.ts); best for a service with a core to spare.
 * "thread-pool": node:crypto on libuv's pool, a job and a wake-up per signature (the default
 * until the verifier thread, which costs less CPU for the same work). "event-loop": in place
 * (ed25519Verify), which saves every hand-over; less CPU in all where several services share a
 * few cores (docs/performance.md). The verdicts are the same (points.ts).
 */
export function setSignatureVerification(where: SignatureVerification): void {
  if (!PLACEMENTS.includes(where)) throw new TypeError(`unknown signature verification placement ${JSON.stringify(where)}`);
  placement = where;
}

export function signatureVerification(): SignatureVerification {
  return placement;
}

/**
 * ed25519Verify off the event loop (on the verifier thread or libuv's thread pool), or in place,
 * as setSignatureVerification says: the same answer. Never rejects. The verifier thread runs
 * libsodium only; without it (CLEARMESH_ED25519=node-crypto, or no addon) its work goes to the
 * pool, where node:crypto has its asynchronous form.
 */
export function ed25519VerifyAsync(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (placement === "event-loop") return Promise.resolve(ed25519Verify(publicKey, message, signature));
  if (!verifiable(publicKey, message, signature)) return Promise.resolve(false);
  if (placement === "verifier-thread" && sodium) return verifyOnVerifierThread(publicKey, message, signature, ed25519Verify);
  let key: KeyObject;
  try {
    key = cachedPublicKey(publicKey);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    try {
      verify(null, message, key, signature, (error, ok) => resolve(!error && ok));
    } catch {
      resolve(false);
    }
  });
}

/** Number of public keys currently cached (for metrics and tests). */
export function publicKeyCacheSize(): number {
  return publicKeyCache.size;
}

const SEED_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;

/**
 * Parses a seed file's content. `label` (usually the file path) names the source in errors;
 * the content itself is never echoed because it may be a slightly mangled secret.
 */
export function parseSeedHex(text: string, label: string): Uint8Array {
  const trimmed = text.trim();
  if (!SEED_HEX_PATTERN.test(trimmed)) {
    throw new KeyFormatError(
      `${label}: expected an Ed25519 seed of exactly 64 hex characters, found ${trimmed.length} characters`,
    );
  }
  return copyBytes(Buffer.from(trimmed, "hex"));
}

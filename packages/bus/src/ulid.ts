import { publicRandomBytes } from "@clearmesh/trust";

// ULID: 48-bit millisecond time + 80 random bits, Crockford base32, 26 characters.
// Ids made by one generator strictly increase, so events of one producer sort in the order
// they were built even within one millisecond or when the clock steps back.

const CROCKFORD_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARACTERS = 10;
const RANDOM_CHARACTERS = 16;
const RANDOM_BYTES = 10;
const MAX_TIME_MS = 2 ** 48 - 1;
const MAX_RANDOM = (1n << 80n) - 1n;

export type UlidGenerator = (nowMs?: number) => string;

function encodeTime(timeMs: number): string {
  let text = "";
  let rest = timeMs;
  for (let index = 0; index < TIME_CHARACTERS; index++) {
    text = CROCKFORD_ALPHABET[rest % 32] + text;
    rest = Math.floor(rest / 32);
  }
  return text;
}

function encodeRandom(random: bigint): string {
  let text = "";
  let rest = random;
  for (let index = 0; index < RANDOM_CHARACTERS; index++) {
    text = CROCKFORD_ALPHABET[Number(rest & 31n)] + text;
    rest >>= 5n;
  }
  return text;
}

function randomBits(randomSource: (size: number) => Uint8Array): bigint {
  const bytes = randomSource(RANDOM_BYTES);
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** A monotonic ULID generator; `randomSource` is injectable for deterministic tests. */
export function createUlidGenerator(
  randomSource: (size: number) => Uint8Array = publicRandomBytes,
): UlidGenerator {
  let lastTimeMs = -1;
  let lastRandom = 0n;
  return (nowMs = Date.now()) => {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs > MAX_TIME_MS) {
      throw new RangeError(`ULID time must be an integer between 0 and ${MAX_TIME_MS} ms`);
    }
    let timeMs = nowMs;
    let random: bigint;
    if (timeMs <= lastTimeMs) {
      // Same millisecond (or the clock went back): continue from the last id.
      timeMs = lastTimeMs;
      random = lastRandom + 1n;
      if (random > MAX_RANDOM) {
        // 2^80 ids in one millisecond cannot happen in practice; move to the next one.
        timeMs += 1;
        random = randomBits(randomSource);
      }
    } else {
      random = randomBits(randomSource);
    }
    lastTimeMs = timeMs;
    lastRandom = random;
    return encodeTime(timeMs) + encodeRandom(random);
  };
}

/** The process-wide generator used for event ids. */
export const newUlid: UlidGenerator = createUlidGenerator();

const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export function isUlid(text: string): boolean {
  return ULID_PATTERN.test(text);
}

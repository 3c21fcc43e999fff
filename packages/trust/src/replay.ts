import { randomBytes } from "node:crypto";

export type ReplayCheck = "fresh" | "replayed" | "full";

export interface ReplayCacheOptions {
  /** How long a nonce must be remembered past its timestamp: the accepted clock skew. */
  windowMs: number;
  maxNoncesPerParticipant: number;
  /** Bound on distinct participants remembered at once; default 10,000. */
  maxParticipants?: number;
}

export const DEFAULT_MAX_PARTICIPANTS = 10_000;

/**
 * One participant's nonces, in insertion order, with expiry times that never decrease. Kept
 * compact because a busy participant has hundreds of thousands live at once (every call of the
 * last window): each nonce is a 64-bit fingerprint (a hash with this process's random seeds) in
 * a ring of typed arrays, found through an open-addressing index; about 24-48 bytes a nonce
 * instead of a string in a Map (about 100), and nothing for the garbage collector to trace.
 *
 * Two different nonces with the same fingerprint would make the second look replayed (the caller
 * retries with a new nonce); with 64 bits that is about n² / 2^65 for n live nonces, under one
 * in ten billion at 300,000. A live nonce is never forgotten.
 */
class NonceTable {
  #capacity: number;
  #mask: number;
  /** Ring of entries from #head, #size long. */
  #high: Int32Array;
  #low: Int32Array;
  #expiry: Float64Array;
  #head = 0;
  #size = 0;
  /** Open addressing with linear probing over #low: ring position + 1, or 0 when empty. */
  #index: Int32Array;
  #indexMask: number;
  latestExpiryMs = Number.NEGATIVE_INFINITY;

  constructor(capacity = MIN_TABLE_CAPACITY) {
    this.#capacity = capacity;
    this.#mask = capacity - 1;
    this.#high = new Int32Array(capacity);
    this.#low = new Int32Array(capacity);
    this.#expiry = new Float64Array(capacity);
    this.#index = new Int32Array(capacity * 2);
    this.#indexMask = capacity * 2 - 1;
  }

  get size(): number {
    return this.#size;
  }

  has(high: number, low: number): boolean {
    for (let slot = low & this.#indexMask; ; slot = (slot + 1) & this.#indexMask) {
      const entry = this.#index[slot]!;
      if (entry === 0) return false;
      if (this.#low[entry - 1] === low && this.#high[entry - 1] === high) return true;
    }
  }

  add(high: number, low: number, expiryMs: number): void {
    if (this.#size === this.#capacity) this.#resize(this.#capacity * 2);
    const position = (this.#head + this.#size) & this.#mask;
    this.#high[position] = high;
    this.#low[position] = low;
    this.#expiry[position] = expiryMs;
    this.#size += 1;
    this.#insert(low, position);
    this.latestExpiryMs = expiryMs;
  }

  /** Drops the expired nonces at the front (live while now <= expiry); shrinks once mostly empty. */
  sweep(nowMs: number): void {
    while (this.#size > 0 && this.#expiry[this.#head]! < nowMs) {
      this.#remove(this.#head);
      this.#head = (this.#head + 1) & this.#mask;
      this.#size -= 1;
    }
    if (this.#capacity > MIN_TABLE_CAPACITY && this.#size * 8 <= this.#capacity) this.#resize(this.#capacity / 2);
  }

  #insert(low: number, position: number): void {
    let slot = low & this.#indexMask;
    while (this.#index[slot] !== 0) slot = (slot + 1) & this.#indexMask;
    this.#index[slot] = position + 1;
  }

  /** Removes a ring position from the index, shifting later entries of its probe run back. */
  #remove(position: number): void {
    const index = this.#index;
    const mask = this.#indexMask;
    let hole = this.#low[position]! & mask;
    while (index[hole] !== position + 1) hole = (hole + 1) & mask;
    for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const home = this.#low[index[next]! - 1]! & mask;
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      const staysPut = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!staysPut) {
        index[hole] = index[next]!;
        hole = next;
      }
    }
    index[hole] = 0;
  }

  #resize(capacity: number): void {
    const high = new Int32Array(capacity);
    const low = new Int32Array(capacity);
    const expiry = new Float64Array(capacity);
    for (let offset = 0; offset < this.#size; offset += 1) {
      const from = (this.#head + offset) & this.#mask;
      high[offset] = this.#high[from]!;
      low[offset] = this.#low[from]!;
      expiry[offset] = this.#expiry[from]!;
    }
    this.#capacity = capacity;
    this.#mask = capacity - 1;
    this.#high = high;
    this.#low = low;
    this.#expiry = expiry;
    this.#head = 0;
    this.#index = new Int32Array(capacity * 2);
    this.#indexMask = capacity * 2 - 1;
    for (let position = 0; position < this.#size; position += 1) this.#insert(low[position]!, position);
  }
}

/** A new participant's table; it doubles as it fills (and halves as it empties). */
const MIN_TABLE_CAPACITY = 64;

/** This process's fingerprint seeds: nonces chosen to collide would need them. */
const SEEDS = new Int32Array(randomBytes(8).buffer);
let fingerprintHigh = 0;
let fingerprintLow = 0;

/** Two independent 32-bit hashes of the nonce (murmur3-style mixing), left in fingerprintHigh/Low. */
function fingerprint(nonce: string): void {
  let high = SEEDS[0]! ^ nonce.length;
  let low = SEEDS[1]! ^ Math.imul(nonce.length, 0x9e3779b1);
  for (let offset = 0; offset < nonce.length; offset += 1) {
    const code = nonce.charCodeAt(offset);
    high = Math.imul(rotate(high ^ Math.imul(code, 0xcc9e2d51), 15), 0x1b873593);
    low = Math.imul(rotate(low ^ Math.imul(code, 0x85ebca6b), 13), 0xc2b2ae35) + 0x6b64 | 0;
  }
  fingerprintHigh = finalMix(high ^ low);
  fingerprintLow = finalMix(low + Math.imul(high, 5) | 0);
}

function rotate(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

function finalMix(value: number): number {
  let mixed = value ^ (value >>> 16);
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  return mixed ^ (mixed >>> 16);
}

/**
 * Remembers (participant, nonce) pairs for as long as a call carrying them could still be
 * accepted: a call with timestamp t is accepted while now <= t + windowMs, so the nonce is
 * kept at least that long. It never forgets a live nonce: when a participant's memory is full
 * of live nonces, check() answers "full" and the caller refuses the call.
 *
 * Cost is O(1) amortised per check: each nonce's expiry is raised to the participant's latest
 * expiry so far, which keeps every table sorted by expiry in insertion order, so sweeping pops
 * expired entries from the front and stops at the first live one. The price is that a nonce
 * may be kept up to one extra window (when timestamps arrive out of order), never less.
 */
export class ReplayCache {
  readonly windowMs: number;
  readonly maxNoncesPerParticipant: number;
  readonly maxParticipants: number;
  readonly #participants = new Map<string, NonceTable>();
  /** Before this time no participant can become empty, so a full participant table cannot shrink. */
  #participantSweepNotBeforeMs = Number.NEGATIVE_INFINITY;

  constructor(options: ReplayCacheOptions) {
    assertPositiveInteger("windowMs", options.windowMs);
    assertPositiveInteger("maxNoncesPerParticipant", options.maxNoncesPerParticipant);
    const maxParticipants = options.maxParticipants ?? DEFAULT_MAX_PARTICIPANTS;
    assertPositiveInteger("maxParticipants", maxParticipants);
    this.windowMs = options.windowMs;
    this.maxNoncesPerParticipant = options.maxNoncesPerParticipant;
    this.maxParticipants = maxParticipants;
  }

  check(participantId: string, nonce: string, timestampMs: number, nowMs: number): ReplayCheck {
    if (!Number.isFinite(timestampMs) || !Number.isFinite(nowMs)) {
      throw new RangeError("ReplayCache.check needs finite timestampMs and nowMs");
    }
    const participant = this.#participantFor(participantId, nowMs);
    if (participant === undefined) return "full";
    participant.sweep(nowMs);
    fingerprint(nonce);
    if (participant.has(fingerprintHigh, fingerprintLow)) return "replayed";
    if (participant.size >= this.maxNoncesPerParticipant) return "full";
    const expiryMs = Math.max(timestampMs + this.windowMs, participant.latestExpiryMs);
    if (participant.size === 0) {
      // A participant that was empty may now empty sooner than the last participant sweep assumed.
      this.#participantSweepNotBeforeMs = Math.min(this.#participantSweepNotBeforeMs, expiryMs + 1);
    }
    participant.add(fingerprintHigh, fingerprintLow, expiryMs);
    return "fresh";
  }

  get participantCount(): number {
    return this.#participants.size;
  }

  /** Nonces held for a participant, including any not yet swept. */
  nonceCount(participantId: string): number {
    return this.#participants.get(participantId)?.size ?? 0;
  }

  #participantFor(participantId: string, nowMs: number): NonceTable | undefined {
    const existing = this.#participants.get(participantId);
    if (existing !== undefined) return existing;
    if (this.#participants.size >= this.maxParticipants) this.#sweepParticipants(nowMs);
    if (this.#participants.size >= this.maxParticipants) return undefined;
    const created = new NonceTable();
    this.#participants.set(participantId, created);
    return created;
  }

  /** O(participants), but guarded so it runs at most once per time some participant can empty. */
  #sweepParticipants(nowMs: number): void {
    if (nowMs < this.#participantSweepNotBeforeMs) return;
    let earliestEmptyMs = Number.POSITIVE_INFINITY;
    for (const [participantId, participant] of this.#participants) {
      participant.sweep(nowMs);
      if (participant.size === 0) {
        this.#participants.delete(participantId);
      } else {
        earliestEmptyMs = Math.min(earliestEmptyMs, participant.latestExpiryMs);
      }
    }
    // Entries are live while now <= expiry, so the first can go at latestExpiryMs + 1.
    this.#participantSweepNotBeforeMs = earliestEmptyMs + 1;
  }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`ReplayCache ${name} must be a positive integer, got ${value}`);
  }
}

export type ReplayCheck = "fresh" | "replayed" | "full";

export interface ReplayCacheOptions {
  /** How long a nonce must be remembered past its timestamp: the accepted clock skew. */
  windowMs: number;
  maxNoncesPerParticipant: number;
  /** Bound on distinct participants remembered at once; default 10,000. */
  maxParticipants?: number;
}

export const DEFAULT_MAX_PARTICIPANTS = 10_000;

/** One participant's nonces in insertion order, with expiry times that never decrease. */
interface ParticipantNonces {
  expiryByNonce: Map<string, number>;
  latestExpiryMs: number;
}

/**
 * Remembers (participant, nonce) pairs for as long as a call carrying them could still be
 * accepted: a call with timestamp t is accepted while now <= t + windowMs, so the nonce is
 * kept at least that long. It never forgets a live nonce: when a participant's memory is full
 * of live nonces, check() answers "full" and the caller refuses the call.
 *
 * Cost is O(1) amortised per check: each nonce's expiry is raised to the participant's latest
 * expiry so far, which keeps every Map sorted by expiry in insertion order, so sweeping pops
 * expired entries from the front and stops at the first live one. The price is that a nonce
 * may be kept up to one extra window (when timestamps arrive out of order), never less.
 */
export class ReplayCache {
  readonly windowMs: number;
  readonly maxNoncesPerParticipant: number;
  readonly maxParticipants: number;
  readonly #participants = new Map<string, ParticipantNonces>();
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
    sweepExpired(participant, nowMs);
    if (participant.expiryByNonce.has(nonce)) return "replayed";
    if (participant.expiryByNonce.size >= this.maxNoncesPerParticipant) return "full";
    const expiryMs = Math.max(timestampMs + this.windowMs, participant.latestExpiryMs);
    if (participant.expiryByNonce.size === 0) {
      // A participant that was empty may now empty sooner than the last participant sweep assumed.
      this.#participantSweepNotBeforeMs = Math.min(this.#participantSweepNotBeforeMs, expiryMs + 1);
    }
    participant.latestExpiryMs = expiryMs;
    participant.expiryByNonce.set(nonce, expiryMs);
    return "fresh";
  }

  get participantCount(): number {
    return this.#participants.size;
  }

  /** Nonces held for a participant, including any not yet swept. */
  nonceCount(participantId: string): number {
    return this.#participants.get(participantId)?.expiryByNonce.size ?? 0;
  }

  #participantFor(participantId: string, nowMs: number): ParticipantNonces | undefined {
    const existing = this.#participants.get(participantId);
    if (existing !== undefined) return existing;
    if (this.#participants.size >= this.maxParticipants) this.#sweepParticipants(nowMs);
    if (this.#participants.size >= this.maxParticipants) return undefined;
    const created: ParticipantNonces = { expiryByNonce: new Map(), latestExpiryMs: Number.NEGATIVE_INFINITY };
    this.#participants.set(participantId, created);
    return created;
  }

  /** O(participants), but guarded so it runs at most once per time some participant can empty. */
  #sweepParticipants(nowMs: number): void {
    if (nowMs < this.#participantSweepNotBeforeMs) return;
    let earliestEmptyMs = Number.POSITIVE_INFINITY;
    for (const [participantId, participant] of this.#participants) {
      sweepExpired(participant, nowMs);
      if (participant.expiryByNonce.size === 0) {
        this.#participants.delete(participantId);
      } else {
        earliestEmptyMs = Math.min(earliestEmptyMs, participant.latestExpiryMs);
      }
    }
    // Entries are live while now <= expiry, so the first can go at latestExpiryMs + 1.
    this.#participantSweepNotBeforeMs = earliestEmptyMs + 1;
  }
}

function sweepExpired(participant: ParticipantNonces, nowMs: number): void {
  for (const [nonce, expiryMs] of participant.expiryByNonce) {
    if (expiryMs >= nowMs) return;
    participant.expiryByNonce.delete(nonce);
  }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`ReplayCache ${name} must be a positive integer, got ${value}`);
  }
}

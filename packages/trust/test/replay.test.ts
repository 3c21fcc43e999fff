import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplayCache } from "../src/index.js";

const windowMs = 1_000;

describe("ReplayCache", () => {
  it("answers replayed for a nonce seen inside the window, per participant", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 10 });
    expect(cache.check("bank-a", "n1", 5_000, 5_000)).toBe("fresh");
    expect(cache.check("bank-a", "n1", 5_000, 6_000)).toBe("replayed");
    expect(cache.check("bank-b", "n1", 5_000, 6_000)).toBe("fresh");
  });

  it("remembers a nonce until its timestamp plus the window, even when timestamps arrive out of order", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 10 });
    expect(cache.check("bank-a", "late", 10_900, 10_000)).toBe("fresh");
    expect(cache.check("bank-a", "early", 9_100, 10_000)).toBe("fresh");
    expect(cache.check("bank-a", "late", 10_900, 11_900)).toBe("replayed");
    expect(cache.check("bank-a", "early", 9_100, 10_100)).toBe("replayed");
  });

  it("never forgets a live nonce under pressure: it answers full instead", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 3 });
    for (const nonce of ["a", "b", "c"]) expect(cache.check("bank-a", nonce, 1_000, 1_000)).toBe("fresh");
    for (let index = 0; index < 100; index += 1) {
      expect(cache.check("bank-a", `x${index}`, 1_000 + index, 1_000 + index)).toBe("full");
    }
    for (const nonce of ["a", "b", "c"]) expect(cache.check("bank-a", nonce, 1_000, 2_000)).toBe("replayed");
    expect(cache.check("bank-b", "a", 1_000, 2_000)).toBe("fresh");
  });

  it("frees space once the window has passed", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 2 });
    expect(cache.check("bank-a", "a", 1_000, 1_000)).toBe("fresh");
    expect(cache.check("bank-a", "b", 1_000, 1_000)).toBe("fresh");
    expect(cache.check("bank-a", "c", 2_000, 2_000)).toBe("full");
    expect(cache.check("bank-a", "c", 2_001, 2_001)).toBe("fresh");
    expect(cache.nonceCount("bank-a")).toBe(1);
    expect(cache.check("bank-a", "a", 2_001, 2_001)).toBe("fresh");
  });

  it("bounds the number of participants and frees them after the window", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 5, maxParticipants: 2 });
    expect(cache.check("bank-a", "n", 1_000, 1_000)).toBe("fresh");
    expect(cache.check("bank-b", "n", 1_500, 1_500)).toBe("fresh");
    expect(cache.check("bank-c", "n", 1_600, 1_600)).toBe("full");
    expect(cache.check("bank-c", "n", 2_000, 2_000)).toBe("full");
    expect(cache.check("bank-c", "n", 2_001, 2_001)).toBe("fresh");
    expect(cache.participantCount).toBe(2);
    expect(cache.check("bank-b", "n", 1_500, 2_001)).toBe("replayed");
    expect(cache.check("bank-d", "n", 2_400, 2_400)).toBe("full");
    expect(cache.check("bank-d", "n", 2_501, 2_501)).toBe("fresh");
  });

  it("keeps reclaiming participants after a sweep that emptied the table", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 5, maxParticipants: 2 });
    expect(cache.check("bank-a", "n", 1_000, 1_000)).toBe("fresh");
    expect(cache.check("bank-b", "n", 1_000, 1_000)).toBe("fresh");
    expect(cache.check("bank-c", "n", 2_001, 2_001)).toBe("fresh");
    expect(cache.check("bank-d", "n", 2_001, 2_001)).toBe("fresh");
    expect(cache.check("bank-e", "n", 3_001, 3_001)).toBe("full");
    expect(cache.check("bank-e", "n", 3_002, 3_002)).toBe("fresh");
  });

  it("stays bounded in steady traffic: one call per millisecond keeps at most two windows of nonces", () => {
    const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: 10_000 });
    let freshCount = 0;
    for (let nowMs = 0; nowMs < 50_000; nowMs += 1) {
      // Clocks disagree by up to the window in either direction.
      const timestampMs = nowMs + ((nowMs * 7919) % (2 * windowMs)) - windowMs;
      if (cache.check("bank-a", `n${nowMs}`, timestampMs, nowMs) === "fresh") freshCount += 1;
    }
    expect(freshCount).toBe(50_000);
    expect(cache.nonceCount("bank-a")).toBeLessThanOrEqual(2 * windowMs + 1);
  });

  it("rejects nonsensical limits", () => {
    expect(() => new ReplayCache({ windowMs: 0, maxNoncesPerParticipant: 1 })).toThrow(RangeError);
    expect(() => new ReplayCache({ windowMs: 1, maxNoncesPerParticipant: 0 })).toThrow(RangeError);
    expect(() => new ReplayCache({ windowMs: 1, maxNoncesPerParticipant: 1, maxParticipants: 1.5 })).toThrow(RangeError);
  });
});

interface Accepted {
  participant: string;
  nonce: string;
  timestampMs: number;
  insertedAtMs: number;
}

const operation = fc.record({
  participant: fc.constantFrom("bank-a", "bank-b", "bank-c"),
  nonce: fc.constantFrom("n0", "n1", "n2", "n3", "n4", "n5"),
  skewMs: fc.integer({ min: -windowMs, max: windowMs }),
  advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: windowMs / 2 })),
});

describe("ReplayCache properties", () => {
  it("never answers fresh for a live nonce, and answers full or replayed only for good reason", () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 300 }), (operations) => {
        const maxNoncesPerParticipant = 3;
        const maxParticipants = 2;
        const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant, maxParticipants });
        const accepted: Accepted[] = [];
        let nowMs = 1_000_000;
        for (const { participant, nonce, skewMs, advanceMs } of operations) {
          nowMs += advanceMs;
          const timestampMs = nowMs + skewMs;
          const result = cache.check(participant, nonce, timestampMs, nowMs);
          const live = accepted.filter((entry) => nowMs <= entry.timestampMs + windowMs);
          if (live.some((entry) => entry.participant === participant && entry.nonce === nonce)) {
            expect(result).toBe("replayed");
          }
          // Out-of-order timestamps may keep a nonce up to one extra window, never longer.
          const recent = accepted.filter((entry) => entry.insertedAtMs >= nowMs - 2 * windowMs);
          if (result === "replayed") {
            expect(recent.some((entry) => entry.participant === participant && entry.nonce === nonce)).toBe(true);
          }
          if (result === "full") {
            const ownRecent = recent.filter((entry) => entry.participant === participant).length;
            const otherParticipants = new Set(recent.map((entry) => entry.participant));
            otherParticipants.delete(participant);
            expect(ownRecent >= maxNoncesPerParticipant || otherParticipants.size >= maxParticipants).toBe(true);
          }
          if (result === "fresh") accepted.push({ participant, nonce, timestampMs, insertedAtMs: nowMs });
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** The cache's rules written plainly (a Map of nonce strings per participant), to compare against. */
class ReplayModel {
  readonly participants = new Map<string, { expiryByNonce: Map<string, number>; latestExpiryMs: number }>();
  constructor(readonly windowMs: number, readonly maxNonces: number) {}

  check(participantId: string, nonce: string, timestampMs: number, nowMs: number): string {
    let participant = this.participants.get(participantId);
    if (!participant) this.participants.set(participantId, (participant = { expiryByNonce: new Map(), latestExpiryMs: Number.NEGATIVE_INFINITY }));
    for (const [known, expiryMs] of participant.expiryByNonce) {
      if (expiryMs >= nowMs) break;
      participant.expiryByNonce.delete(known);
    }
    if (participant.expiryByNonce.has(nonce)) return "replayed";
    if (participant.expiryByNonce.size >= this.maxNonces) return "full";
    const expiryMs = Math.max(timestampMs + this.windowMs, participant.latestExpiryMs);
    participant.latestExpiryMs = expiryMs;
    participant.expiryByNonce.set(nonce, expiryMs);
    return "fresh";
  }
}

describe("ReplayCache against the plain model", () => {
  it("answers exactly as a Map of nonce strings would, through growth, sweeps and shrinking", () => {
    const step = fc.record({
      participant: fc.constantFrom("bank-a", "bank-b"),
      // Few short nonces repeat often; long random ones fill the table past its first sizes.
      nonce: fc.oneof(fc.constantFrom("n1", "n2", "n3", "a".repeat(40)), fc.string({ minLength: 16, maxLength: 24 })),
      count: fc.integer({ min: 1, max: 120 }),
      skewMs: fc.integer({ min: -windowMs, max: windowMs }),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: windowMs / 4 })),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const maxNonces = 500;
        const cache = new ReplayCache({ windowMs, maxNoncesPerParticipant: maxNonces });
        const model = new ReplayModel(windowMs, maxNonces);
        let nowMs = 5_000_000;
        let serial = 0;
        let pick = steps.length;
        const history: Array<[string, string]> = [];
        for (const { participant, nonce, count, skewMs, advanceMs } of steps) {
          nowMs += advanceMs;
          // A burst: the same nonce first (a replay from the second on), then fresh ones.
          for (let index = 0; index < count; index += 1) {
            const used = index === 0 || index % 7 === 0 ? nonce : `${nonce}-${serial++}`;
            expect(cache.check(participant, used, nowMs + skewMs, nowMs)).toBe(model.check(participant, used, nowMs + skewMs, nowMs));
            history.push([participant, used]);
          }
          // Earlier nonces again, live or expired: removals must never lose a live one.
          for (let index = 0; index < 20; index += 1) {
            pick = (Math.imul(pick, 1_103_515_245) + 12_345) >>> 0;
            const [id, used] = history[pick % history.length]!;
            expect(cache.check(id, used, nowMs, nowMs)).toBe(model.check(id, used, nowMs, nowMs));
          }
          for (const id of ["bank-a", "bank-b"]) {
            cache.check(id, `probe-${serial++}`, nowMs, nowMs);
            model.check(id, `probe-${serial - 1}`, nowMs, nowMs);
            expect(cache.nonceCount(id)).toBe(model.participants.get(id)?.expiryByNonce.size ?? 0);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("holds 200,000 live nonces of one participant and refuses every one of them again", () => {
    const cache = new ReplayCache({ windowMs: 300_000, maxNoncesPerParticipant: 200_000 });
    const nowMs = 1_700_000_000_000;
    let fresh = 0;
    for (let index = 0; index < 200_000; index += 1) if (cache.check("bank-a", `nonce-${index}-x`, nowMs, nowMs) === "fresh") fresh += 1;
    expect(fresh).toBe(200_000);
    expect(cache.check("bank-a", "one-more", nowMs, nowMs)).toBe("full");
    for (let index = 0; index < 200_000; index += 997) expect(cache.check("bank-a", `nonce-${index}-x`, nowMs, nowMs)).toBe("replayed");
    // After the window every one of them has gone, and the table shrank back.
    expect(cache.check("bank-a", "later", nowMs + 300_001, nowMs + 300_001)).toBe("fresh");
    expect(cache.nonceCount("bank-a")).toBe(1);
    expect(cache.check("bank-a", "nonce-5-x", nowMs + 300_001, nowMs + 300_001)).toBe("fresh");
  });
});

import { describe, expect, it } from "vitest";
import {
  KeyFormatError,
  SealError,
  SealFailure,
  fromBase64Url,
  parseDataKeys,
  reseal,
  seal,
  sealedKeyId,
  toBase64Url,
  toHex,
  unseal,
  unsealText,
} from "../src/index.js";

const key1Hex = "11".repeat(32);
const key2Hex = "a2".repeat(32);

function sealFailure(action: () => unknown): SealFailure | undefined {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    return (error as SealError).reason;
  }
  return undefined;
}

describe("parseDataKeys", () => {
  it("takes the first key as active", () => {
    const ring = parseDataKeys(` k2:${key2Hex} , k1:${key1Hex}`);
    expect(ring.activeKeyId).toBe("k2");
    expect([...ring.keys.keys()]).toEqual(["k2", "k1"]);
    expect(toHex(ring.keys.get("k1") ?? new Uint8Array())).toBe(key1Hex);
  });

  it("names the bad entry without printing key material", () => {
    const cases = [
      `k1:${key1Hex},k2:${key2Hex.slice(2)}`,
      `k1:${key1Hex},${key2Hex}`,
      `k1:${key1Hex},${key2Hex}:k2`,
      `k1:${key1Hex},k1:${key2Hex}`,
      `k1:${key1Hex},`,
    ];
    for (const spec of cases) {
      let caught: unknown;
      try {
        parseDataKeys(spec);
      } catch (error) {
        caught = error;
      }
      expect(caught, spec).toBeInstanceOf(KeyFormatError);
      const message = (caught as Error).message;
      expect(message).toMatch(/entry 2/);
      expect(message).not.toContain("a2a2a2");
      expect(message).not.toContain("1111");
    }
  });
});

describe("seal and unseal", () => {
  const ring = parseDataKeys(`k1:${key1Hex}`);

  it("round-trips bytes and text, with a fresh nonce each time", () => {
    const bytes = new Uint8Array([0, 1, 2, 255]);
    expect(Array.from(unseal(ring, seal(ring, bytes)))).toEqual([0, 1, 2, 255]);
    const sealed = seal(ring, "JBSWY3DPEHPK3PXP");
    expect(sealed).toMatch(/^v1\.k1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain("JBSWY3DPEHPK3PXP");
    expect(unsealText(ring, sealed)).toBe("JBSWY3DPEHPK3PXP");
    expect(seal(ring, "same")).not.toBe(seal(ring, "same"));
    expect(unsealText(ring, seal(ring, ""))).toBe("");
  });

  it("detects tampering in any byte of the payload", () => {
    const sealed = seal(ring, "totp secret");
    const payload = fromBase64Url(sealed.split(".")[2] ?? "");
    for (const index of [0, 23, 24, 40, payload.length - 1]) {
      const changed = payload.slice();
      changed[index] = (changed[index] ?? 0) ^ 0x01;
      const tampered = `v1.k1.${toBase64Url(changed)}`;
      expect(sealFailure(() => unseal(ring, tampered))).toBe(SealFailure.TAMPERED);
    }
  });

  it("refuses unknown keys and malformed values without echoing them", () => {
    const other = parseDataKeys(`k9:${key2Hex}`);
    expect(sealFailure(() => unseal(ring, seal(other, "x")))).toBe(SealFailure.UNKNOWN_KEY);
    for (const bad of ["", "v2.k1.AAAA", "v1.k1", "v1..AAAA", "v1.k1.AAAA", "v1.k1.***"]) {
      expect(sealFailure(() => unseal(ring, bad)), bad).toBe(SealFailure.MALFORMED);
    }
    const tampered = `v1.k1.${toBase64Url(new Uint8Array(60))}`;
    try {
      unseal(ring, tampered);
    } catch (error) {
      expect((error as Error).message).not.toContain(key1Hex);
    }
  });
});

describe("rotation", () => {
  const oldRing = parseDataKeys(`k1:${key1Hex}`);
  const rotatedRing = parseDataKeys(`k2:${key2Hex},k1:${key1Hex}`);

  it("opens values sealed with the old key and re-seals them with the active one", () => {
    const sealedOld = seal(oldRing, "session secret");
    expect(sealedKeyId(sealedOld)).toBe("k1");
    expect(unsealText(rotatedRing, sealedOld)).toBe("session secret");
    const resealed = reseal(rotatedRing, sealedOld);
    expect(sealedKeyId(resealed)).toBe("k2");
    expect(unsealText(rotatedRing, resealed)).toBe("session secret");
    expect(reseal(rotatedRing, resealed)).toBe(resealed);
    expect(sealFailure(() => unseal(oldRing, resealed))).toBe(SealFailure.UNKNOWN_KEY);
  });
});

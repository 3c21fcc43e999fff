// publicRandomBytes: pooled random bytes for public values (nonces, ids, seal nonces).
import { describe, expect, it } from "vitest";
import { generateNonce, parseDataKeys, publicRandomBytes, seal, unsealText } from "../src/index.js";

describe("publicRandomBytes", () => {
  it("gives copies the caller owns, of the size asked, across many refills", () => {
    const taken: Uint8Array[] = [];
    for (let index = 0; index < 3_000; index += 1) taken.push(publicRandomBytes(16));
    expect(taken.every((bytes) => bytes.length === 16 && bytes.buffer.byteLength === 16)).toBe(true);
    // 48,000 bytes: about a dozen refills of the pool; a refill must not change what was handed out.
    const first = Uint8Array.from(taken[0]!);
    for (let index = 0; index < 1_000; index += 1) publicRandomBytes(64);
    expect(taken[0]).toEqual(first);
    const distinct = new Set(taken.map((bytes) => Buffer.from(bytes).toString("hex")));
    expect(distinct.size).toBe(taken.length);
  });

  it("looks uniform: every byte value, about equally often", () => {
    const counts = new Array<number>(256).fill(0);
    for (let index = 0; index < 4_000; index += 1) for (const byte of publicRandomBytes(64)) counts[byte]! += 1;
    // 256,000 bytes: 1,000 expected per value; a fair source stays far inside ±25%.
    expect(Math.min(...counts)).toBeGreaterThan(750);
    expect(Math.max(...counts)).toBeLessThan(1_250);
  });

  it("serves sizes beyond the pool's share directly, and zero bytes; refuses sizes that are not counts", () => {
    expect(publicRandomBytes(0).length).toBe(0);
    const large = publicRandomBytes(10_000);
    expect(large.length).toBe(10_000);
    expect(new Set(large).size).toBeGreaterThan(200);
    for (const size of [-1, 1.5, Number.NaN]) expect(() => publicRandomBytes(size)).toThrow(RangeError);
  });

  it("backs request nonces and seal nonces: fresh ones every time", () => {
    const nonces = new Set(Array.from({ length: 1_000 }, () => generateNonce()));
    expect(nonces.size).toBe(1_000);
    const ring = parseDataKeys(`k1:${"ab".repeat(32)}`);
    const sealed = new Set(Array.from({ length: 100 }, () => seal(ring, "same text")));
    expect(sealed.size).toBe(100);
    expect([...sealed].every((text) => unsealText(ring, text) === "same text")).toBe(true);
  });
});

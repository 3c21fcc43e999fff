import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import nacl from "tweetnacl";
import { describe, expect, it, onTestFinished } from "vitest";
import {
  KeyFormatError,
  PUBLIC_KEY_CACHE_MAX_ENTRIES,
  createSigningKey,
  ed25519Sign,
  ed25519Library,
  ed25519Verify,
  ed25519VerifyAsync,
  fromHex,
  generateSeed,
  parseSeedHex,
  publicKeyCacheSize,
  publicKeyFromSeed,
  setSignatureVerification,
  toHex,
} from "../src/index.js";
import { loadVectors } from "./vectors.js";
import type { Rfc8032Vectors } from "./vectors.js";

const rfc8032 = loadVectors<Rfc8032Vectors>("ed25519-rfc8032.json");

describe("RFC 8032 Ed25519 vectors", () => {
  it("has the three vectors", () => {
    expect(rfc8032.vectors).toHaveLength(3);
  });

  for (const [index, vector] of rfc8032.vectors.entries()) {
    it(`TEST ${index + 1}: node:crypto and tweetnacl both produce the RFC signature`, () => {
      const seed = fromHex(vector.seed);
      const message = fromHex(vector.message);
      expect(toHex(publicKeyFromSeed(seed))).toBe(vector.public_key);
      expect(toHex(ed25519Sign(seed, message))).toBe(vector.signature);
      expect(toHex(createSigningKey("bank-a", "k1", seed).sign(message))).toBe(vector.signature);
      const pair = nacl.sign.keyPair.fromSeed(seed);
      expect(toHex(pair.publicKey)).toBe(vector.public_key);
      expect(toHex(nacl.sign.detached(message, pair.secretKey))).toBe(vector.signature);
      expect(ed25519Verify(fromHex(vector.public_key), message, fromHex(vector.signature))).toBe(true);
    });
  }
});

describe("who signs: libsodium when the addon loads, node:crypto otherwise", () => {
  it("signs with libsodium here (sodium-native has a build for this platform)", () => {
    expect(ed25519Library()).toBe("libsodium");
  });

  it("gives node:crypto's signature, byte for byte, for 300 random seeds and messages", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 0, maxLength: 4096 }), (seed, message) => {
        expect(toHex(createSigningKey("bank-a", "k1", seed).sign(message))).toBe(toHex(ed25519Sign(seed, message)));
      }),
      { numRuns: 300 },
    );
  });

  it("each signature is a fresh array of its own", () => {
    const key = createSigningKey("bank-a", "k1", generateSeed());
    const first = key.sign(Uint8Array.of(1));
    const second = key.sign(Uint8Array.of(1));
    expect(first).not.toBe(second);
    expect(first.buffer.byteLength).toBe(64);
    expect(toHex(first)).toBe(toHex(second));
  });

  it("CLEARMESH_ED25519=node-crypto signs with node:crypto, to the same RFC 8032 signatures", () => {
    const vector = rfc8032.vectors[2]!;
    const keysModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/index.ts");
    const script = `import("${keysModule}").then((trust) => { const key = trust.createSigningKey("bank-a", "k1", trust.fromHex("${vector.seed}")); console.log(trust.ed25519Library(), trust.toHex(key.sign(trust.fromHex("${vector.message}")))); });`;
    const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, CLEARMESH_ED25519: "node-crypto" }, encoding: "utf8" });
    expect(output.trim()).toBe(`node:crypto ${vector.signature}`);
  });
});

describe("node:crypto against tweetnacl", () => {
  it("gives byte-identical signatures and cross-verifies for 200 random seeds and messages", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 0, maxLength: 512 }),
        (seed, message) => {
          const pair = nacl.sign.keyPair.fromSeed(seed);
          const key = createSigningKey("bank-a", "k1", seed);
          const nodeSignature = key.sign(message);
          const naclSignature = nacl.sign.detached(message, pair.secretKey);
          expect(toHex(key.publicKey)).toBe(toHex(pair.publicKey));
          expect(toHex(nodeSignature)).toBe(toHex(naclSignature));
          expect(ed25519Verify(pair.publicKey, message, naclSignature)).toBe(true);
          expect(nacl.sign.detached.verify(message, nodeSignature, key.publicKey)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("ed25519Verify", () => {
  const seed = fromHex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
  const publicKey = publicKeyFromSeed(seed);
  const message = new Uint8Array([0x72]);
  const signature = ed25519Sign(seed, message);

  it("refuses a flipped signature bit, another message and another key", () => {
    const flipped = signature.slice();
    flipped[10] = (flipped[10] ?? 0) ^ 1;
    expect(ed25519Verify(publicKey, message, flipped)).toBe(false);
    expect(ed25519Verify(publicKey, new Uint8Array([0x73]), signature)).toBe(false);
    expect(ed25519Verify(publicKeyFromSeed(generateSeed()), message, signature)).toBe(false);
  });

  it("returns false, never throws, for wrong lengths", () => {
    expect(ed25519Verify(publicKey.subarray(1), message, signature)).toBe(false);
    expect(ed25519Verify(publicKey, message, signature.subarray(1))).toBe(false);
    expect(ed25519Verify(new Uint8Array(33), message, signature)).toBe(false);
  });

  it("keeps the public key cache of node:crypto's verification (the thread pool's) bounded", async () => {
    setSignatureVerification("thread-pool");
    onTestFinished(() => setSignatureVerification("verifier-thread"));
    for (let index = 0; index < PUBLIC_KEY_CACHE_MAX_ENTRIES + 50; index += 1) {
      const fakeKey = new Uint8Array(32);
      new DataView(fakeKey.buffer).setUint32(0, index);
      fakeKey[31] = 0x11;
      await ed25519VerifyAsync(fakeKey, message, signature);
    }
    expect(publicKeyCacheSize()).toBe(PUBLIC_KEY_CACHE_MAX_ENTRIES);
    expect(await ed25519VerifyAsync(publicKey, message, signature)).toBe(true);
    expect(ed25519Verify(publicKey, message, signature)).toBe(true);
  });
});

describe("signing keys", () => {
  it("throws TypeError when signing with a seed of the wrong length", () => {
    expect(() => ed25519Sign(new Uint8Array(31), new Uint8Array())).toThrow(TypeError);
    expect(() => createSigningKey("bank-a", "k1", new Uint8Array(33))).toThrow(TypeError);
  });

  it("generates distinct 32-byte seeds", () => {
    const first = generateSeed();
    expect(first).toHaveLength(32);
    expect(toHex(first)).not.toBe(toHex(generateSeed()));
  });

  it("exposes the seed but never serializes it", () => {
    const seed = generateSeed();
    const key = createSigningKey("bank-a", "bank-a-1", seed);
    expect(toHex(key.seed)).toBe(toHex(seed));
    const serialized = JSON.stringify({ key });
    expect(serialized).toContain(toHex(key.publicKey));
    expect(serialized).not.toContain(toHex(seed));
    expect(Object.keys(key)).not.toContain("seed");
  });

  it("keeps its own copy of the seed", () => {
    const seed = generateSeed();
    const key = createSigningKey("bank-a", "bank-a-1", seed);
    const expected = toHex(key.sign(new Uint8Array([1])));
    seed.fill(0);
    expect(toHex(key.sign(new Uint8Array([1])))).toBe(expected);
  });
});

describe("parseSeedHex", () => {
  const hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

  it("accepts 64 hex characters with surrounding whitespace", () => {
    expect(toHex(parseSeedHex(`  ${hex}\n`, "/etc/clearmesh/bank-a.seed"))).toBe(hex);
    expect(toHex(parseSeedHex(hex.toUpperCase(), "seed"))).toBe(hex);
  });

  it("names the file and never echoes the content", () => {
    for (const bad of [hex.slice(2), `${hex}00`, `${hex.slice(1)}g`, "", `${hex.slice(0, 32)} ${hex.slice(33)}`]) {
      let caught: unknown;
      try {
        parseSeedHex(bad, "/etc/clearmesh/bank-a.seed");
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(KeyFormatError);
      const message = (caught as Error).message;
      expect(message).toContain("/etc/clearmesh/bank-a.seed");
      expect(message).not.toContain(hex.slice(4, 20));
    }
  });
});

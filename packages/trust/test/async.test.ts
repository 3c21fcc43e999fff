// The asynchronous variants of verification (ed25519VerifyAsync, verifyRpcRequestAsync,
// verifyRpcResponseAsync) must answer exactly what the synchronous ones answer, on the thread
// verifier thread, on libuv's thread pool and in place on the event loop (setSignatureVerification):
// the same verdict on the shared
// vectors and on every kind of bad input. (Signing runs on the calling thread.)
import { pbkdf2 } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HEADER_NONCE,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  ReplayCache,
  TrustFailure,
  createSigningKey,
  ed25519Verify,
  ed25519VerifyAsync,
  fromHex,
  generateSeed,
  headerGetterFromRecord,
  setSignatureVerification,
  sha256,
  signatureVerification,
  signRpcRequest,
  toBase64,
  utf8,
  verifyRpcRequest,
  verifyRpcRequestAsync,
  verifyRpcResponse,
  verifyRpcResponseAsync,
} from "../src/index.js";
import type { KeyLookup, KeyRecord, RpcRequestVerification } from "../src/index.js";
import { verifierThreadForTests } from "../src/verifier-thread.js";
import { loadVectors, type ClearmeshVectors, type Rfc8032Vectors } from "./vectors.js";

const rfc8032 = loadVectors<Rfc8032Vectors>("ed25519-rfc8032.json");
const clearmesh = loadVectors<ClearmeshVectors>("clearmesh-signatures.json");

for (const placement of ["verifier-thread", "thread-pool", "event-loop"] as const) {
  describe(`verification on the ${placement}`, () => {
    beforeAll(() => setSignatureVerification(placement));
    afterAll(() => setSignatureVerification("verifier-thread"));

    describe("Ed25519 verification", () => {
      it("verifies the RFC 8032 vectors", async () => {
        for (const vector of rfc8032.vectors) {
          const message = fromHex(vector.message);
          expect(await ed25519VerifyAsync(fromHex(vector.public_key), message, fromHex(vector.signature))).toBe(true);
        }
      });

      it("gives the synchronous verdict for random seeds and messages, signed or tampered", async () => {
        for (let index = 0; index < 50; index += 1) {
          const key = createSigningKey("bank-a", "bank-a-1", generateSeed());
          const message = generateSeed().subarray(0, index % 32);
          const signature = key.sign(message);
          if (index % 2 === 1) signature[index % 64]! ^= 1;
          expect(await ed25519VerifyAsync(key.publicKey, message, signature)).toBe(ed25519Verify(key.publicKey, message, signature));
          expect(ed25519Verify(key.publicKey, message, signature)).toBe(index % 2 === 0);
        }
      });

      it("answers false, never throws, for tampered and malformed input", async () => {
        const key = createSigningKey("bank-a", "bank-a-1", generateSeed());
        const message = utf8("pay 100");
        const signature = key.sign(message);
        const tampered = Uint8Array.from(signature);
        tampered[10] = (tampered[10]! + 1) % 256;
        const cases: Array<[Uint8Array, Uint8Array, Uint8Array]> = [
          [key.publicKey, utf8("pay 101"), signature],
          [key.publicKey, message, tampered],
          [key.publicKey.subarray(0, 31), message, signature],
          [key.publicKey, message, signature.subarray(0, 63)],
          [new Uint8Array(32), message, signature],
          [new Uint8Array(32).fill(255), message, signature],
        ];
        for (const [publicKey, body, sig] of cases) {
          expect(await ed25519VerifyAsync(publicKey, body, sig)).toBe(ed25519Verify(publicKey, body, sig));
          expect(await ed25519VerifyAsync(publicKey, body, sig)).toBe(false);
        }
        expect(await ed25519VerifyAsync(key.publicKey, message, signature)).toBe(true);
      });
    });

    describe("verifyRpcRequestAsync", () => {
      const procedure = "/clearmesh.clearing.v1.ClearingService/CreateTransfer";
      const body = utf8("transfer t-1");
      const nowMs = 1_764_460_800_000;
      const key = createSigningKey("bank-a", "bank-a-1", generateSeed());
      const lookup = (record: Partial<KeyRecord> = {}): KeyLookup => (participantId, keyId) =>
        participantId === "bank-a" && keyId === "bank-a-1" ? { publicKey: key.publicKey, status: "active", ...record } : undefined;
      const signed = (options: { timestampMs?: number; nonce?: string } = {}) => signRpcRequest(key, procedure, body, { timestampMs: nowMs, ...options });
      const cache = () => new ReplayCache({ windowMs: 300_000, maxNoncesPerParticipant: 1 });

      const cases: Array<{ name: string; headers: Record<string, string>; digest?: Uint8Array; lookup?: KeyLookup; expected: TrustFailure | "ok" }> = [
        { name: "a good call", headers: signed(), expected: "ok" },
        { name: "no signature", headers: { ...signed(), [HEADER_SIGNATURE]: "" }, expected: TrustFailure.SIGNATURE_MISSING },
        { name: "a malformed signature", headers: { ...signed(), [HEADER_SIGNATURE]: "not base64!" }, expected: TrustFailure.BAD_SIGNATURE },
        { name: "another body", headers: signed(), digest: sha256(utf8("transfer t-2")), expected: TrustFailure.BAD_SIGNATURE },
        { name: "a wrong signature", headers: { ...signed(), [HEADER_SIGNATURE]: toBase64(key.sign(utf8("other"))) }, expected: TrustFailure.BAD_SIGNATURE },
        { name: "an unknown key", headers: signed(), lookup: () => undefined, expected: TrustFailure.UNKNOWN_KEY },
        { name: "a revoked key", headers: signed(), lookup: lookup({ status: "revoked" }), expected: TrustFailure.KEY_REVOKED },
        { name: "a stale timestamp", headers: signed({ timestampMs: nowMs - 400_000 }), expected: TrustFailure.STALE_TIMESTAMP },
        { name: "a short nonce", headers: { ...signed(), [HEADER_NONCE]: "AAEC" }, expected: TrustFailure.BAD_SIGNATURE },
        { name: "a bad timestamp", headers: { ...signed(), [HEADER_TIMESTAMP]: "soon" }, expected: TrustFailure.BAD_SIGNATURE },
      ];

      const outcome = (result: RpcRequestVerification) => (result.ok ? "ok" : result.reason);

      it.each(cases)("answers as the synchronous check for $name", async ({ headers, digest, lookup: lookupKey, expected }) => {
        const args = [headerGetterFromRecord(headers), procedure, digest ?? sha256(body), lookupKey ?? lookup()] as const;
        const sync = verifyRpcRequest(...args, cache(), nowMs);
        const async = await verifyRpcRequestAsync(...args, cache(), nowMs);
        expect(outcome(async)).toBe(expected);
        expect(async).toEqual(sync);
      });

      it("records the nonce only after the signature verifies, then refuses the replay and a full cache", async () => {
        const replay = cache();
        const headers = signed();
        const forged = { ...headers, [HEADER_SIGNATURE]: toBase64(key.sign(utf8("other"))) };
        expect(outcome(await verifyRpcRequestAsync(headerGetterFromRecord(forged), procedure, sha256(body), lookup(), replay, nowMs))).toBe(TrustFailure.BAD_SIGNATURE);
        expect(outcome(await verifyRpcRequestAsync(headerGetterFromRecord(headers), procedure, sha256(body), lookup(), replay, nowMs))).toBe("ok");
        expect(outcome(await verifyRpcRequestAsync(headerGetterFromRecord(headers), procedure, sha256(body), lookup(), replay, nowMs))).toBe(TrustFailure.REPLAYED_NONCE);
        expect(outcome(await verifyRpcRequestAsync(headerGetterFromRecord(signed()), procedure, sha256(body), lookup(), replay, nowMs))).toBe(TrustFailure.NONCE_CAPACITY);
      });

      it("lets only one of two concurrent copies of a call through", async () => {
        const replay = new ReplayCache({ windowMs: 300_000, maxNoncesPerParticipant: 10 });
        const headers = signed();
        const results = await Promise.all([1, 2].map(() => verifyRpcRequestAsync(headerGetterFromRecord(headers), procedure, sha256(body), lookup(), replay, nowMs)));
        expect(results.map(outcome).sort()).toEqual(["REPLAYED_NONCE", "ok"]);
      });
    });

    describe("response signatures", () => {
      it("verifies responses as the synchronous check does, good and tampered", async () => {
        const vector = clearmesh.rpc_response;
        const headers: Record<string, string> = {
          "cm-participant": vector["cm-participant"], "cm-key-id": vector["cm-key-id"], "cm-timestamp": vector["cm-timestamp"], "cm-signature": vector["cm-signature"],
        };
        const bytes = fromHex(vector.response_bytes_hex);
        const lookup = () => fromHex(vector.public_key);
        const cases: Array<[Record<string, string>, Uint8Array, string, boolean]> = [
          [headers, bytes, vector.request_nonce, true],
          [headers, Uint8Array.from([...bytes, 0]), vector.request_nonce, false],
          [headers, bytes, `${vector.request_nonce}x`, false],
          [{ ...headers, "cm-signature": "not base64" }, bytes, vector.request_nonce, false],
          [{ ...headers, "cm-timestamp": "soon" }, bytes, vector.request_nonce, false],
        ];
        for (const [given, body, nonce, expected] of cases) {
          const getHeader = headerGetterFromRecord(given);
          expect(await verifyRpcResponseAsync(getHeader, vector.procedure, nonce, body, lookup)).toBe(expected);
          expect(verifyRpcResponse(getHeader, vector.procedure, nonce, body, lookup)).toBe(expected);
        }
      });
    });
  });
}

describe("where verification runs", () => {
  afterAll(() => setSignatureVerification("verifier-thread"));

  /** Whether a verification answers before jobs that fill the whole thread pool end. */
  async function answersBeforeABusyPool(): Promise<boolean> {
    const key = createSigningKey("bank-a", "bank-a-1", generateSeed());
    const message = utf8("pay 100");
    const signature = key.sign(message);
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const order: string[] = [];
    const busy = Array.from({ length: poolSize }, () => new Promise<void>((resolve) => {
      pbkdf2("password", "salt", 300_000, 32, "sha256", () => {
        order.push("pool job");
        resolve();
      });
    }));
    const verified = ed25519VerifyAsync(key.publicKey, message, signature).then((ok) => {
      order.push(`verified ${ok}`);
    });
    await Promise.all([...busy, verified]);
    expect(order).toContain("verified true");
    return order[0] === "verified true";
  }

  it("on the verifier thread (the default, which a fresh process shows in verifier-thread.test.ts): the pool's queue does not delay it", async () => {
    setSignatureVerification("verifier-thread");
    expect(signatureVerification()).toBe("verifier-thread");
    expect(await answersBeforeABusyPool()).toBe(true);
    expect(verifierThreadForTests.thread()).toBeDefined();
  });

  it("on the thread pool when asked: it waits for a free pool thread", async () => {
    setSignatureVerification("thread-pool");
    expect(signatureVerification()).toBe("thread-pool");
    expect(await answersBeforeABusyPool()).toBe(false);
  });

  it("on the event loop when asked: the pool's queue does not delay it", async () => {
    setSignatureVerification("event-loop");
    expect(signatureVerification()).toBe("event-loop");
    expect(await answersBeforeABusyPool()).toBe(true);
  });

  it("refuses a placement it does not know", () => {
    expect(() => setSignatureVerification("gpu" as never)).toThrow(TypeError);
  });
});

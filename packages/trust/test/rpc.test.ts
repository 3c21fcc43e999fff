import { describe, expect, it } from "vitest";
import {
  HEADER_KEY_ID,
  HEADER_NONCE,
  HEADER_PARTICIPANT,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  ReplayCache,
  TrustFailure,
  createSigningKey,
  fromBase64Url,
  generateSeed,
  headerGetterFromRecord,
  sha256,
  signRpcRequest,
  toBase64,
  utf8,
  verifyRpcRequest,
} from "../src/index.js";
import type { KeyLookup, KeyRecord, RpcRequestVerification } from "../src/index.js";

const procedure = "/clearmesh.clearing.v1.ClearingService/CreateTransfer";
const requestBytes = utf8("transfer t-1 from bank-a to bank-b");
const nowMs = 1_764_460_800_000;
const bankKey = createSigningKey("bank-a", "bank-a-1", generateSeed());

function directory(record: Partial<KeyRecord> = {}): KeyLookup {
  const found: KeyRecord = { publicKey: bankKey.publicKey, status: "active", ...record };
  return (participantId, keyId) => (participantId === "bank-a" && keyId === "bank-a-1" ? found : undefined);
}

function newCache(maxNoncesPerParticipant = 100): ReplayCache {
  return new ReplayCache({ windowMs: 300_000, maxNoncesPerParticipant });
}

interface Attempt {
  headers?: Record<string, string | undefined>;
  digest?: Uint8Array;
  lookup?: KeyLookup;
  cache?: ReplayCache;
  atMs?: number;
  signedProcedure?: string;
}

function signedHeaders(options: { timestampMs?: number; nonce?: string } = {}): Record<string, string> {
  return signRpcRequest(bankKey, procedure, requestBytes, { timestampMs: nowMs, ...options });
}

function attempt(input: Attempt = {}): RpcRequestVerification {
  const headers = input.headers ?? signedHeaders();
  const present = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as Record<string, string>;
  return verifyRpcRequest(
    headerGetterFromRecord(present),
    input.signedProcedure ?? procedure,
    input.digest ?? sha256(requestBytes),
    input.lookup ?? directory(),
    input.cache ?? newCache(),
    input.atMs ?? nowMs,
  );
}

function reasonOf(result: RpcRequestVerification): TrustFailure | "ok" {
  return result.ok ? "ok" : result.reason;
}

describe("signRpcRequest", () => {
  it("defaults to a 16-byte base64url nonce and the current time", () => {
    const before = Date.now();
    const headers = signRpcRequest(bankKey, procedure, requestBytes);
    expect(headers[HEADER_NONCE]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(fromBase64Url(headers[HEADER_NONCE] ?? "")).toHaveLength(16);
    expect(Number(headers[HEADER_TIMESTAMP])).toBeGreaterThanOrEqual(before);
    expect(signRpcRequest(bankKey, procedure, requestBytes)[HEADER_NONCE]).not.toBe(headers[HEADER_NONCE]);
  });
});

describe("verifyRpcRequest", () => {
  it("accepts a well-signed call", () => {
    expect(attempt()).toMatchObject({ ok: true, participantId: "bank-a", keyId: "bank-a-1", timestampMs: nowMs });
  });

  it.each([HEADER_PARTICIPANT, HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE])(
    "answers SIGNATURE_MISSING without %s",
    (name) => {
      expect(reasonOf(attempt({ headers: { ...signedHeaders(), [name]: undefined } }))).toBe(TrustFailure.SIGNATURE_MISSING);
      expect(reasonOf(attempt({ headers: { ...signedHeaders(), [name]: "" } }))).toBe(TrustFailure.SIGNATURE_MISSING);
    },
  );

  it("answers BAD_SIGNATURE for malformed headers", () => {
    const malformed: Record<string, string>[] = [
      { [HEADER_PARTICIPANT]: "Bank-A" },
      { [HEADER_PARTICIPANT]: "ba" },
      { [HEADER_KEY_ID]: "bank a 1" },
      { [HEADER_TIMESTAMP]: "-1764460800000" },
      { [HEADER_TIMESTAMP]: "1764460800000.5" },
      { [HEADER_NONCE]: "AAECAwQFBgcICQoLDA0O" },
      { [HEADER_NONCE]: "AAECAwQFBgcICQoLDA0ODw==" },
      { [HEADER_NONCE]: "A".repeat(300) },
      { [HEADER_SIGNATURE]: toBase64(new Uint8Array(63)) },
      { [HEADER_SIGNATURE]: "not base64!" },
    ];
    for (const change of malformed) {
      expect(reasonOf(attempt({ headers: { ...signedHeaders(), ...change } })), JSON.stringify(change)).toBe(
        TrustFailure.BAD_SIGNATURE,
      );
    }
  });

  it("answers UNKNOWN_KEY for an unknown participant or key id", () => {
    const otherKey = createSigningKey("bank-z", "bank-a-1", generateSeed());
    const headers = signRpcRequest(otherKey, procedure, requestBytes, { timestampMs: nowMs });
    expect(reasonOf(attempt({ headers }))).toBe(TrustFailure.UNKNOWN_KEY);
    const otherKeyId = createSigningKey("bank-a", "bank-a-2", generateSeed());
    const secondHeaders = signRpcRequest(otherKeyId, procedure, requestBytes, { timestampMs: nowMs });
    expect(reasonOf(attempt({ headers: secondHeaders }))).toBe(TrustFailure.UNKNOWN_KEY);
  });

  it("answers KEY_REVOKED for a revoked key and for an expired one", () => {
    expect(reasonOf(attempt({ lookup: directory({ status: "revoked" }) }))).toBe(TrustFailure.KEY_REVOKED);
    expect(reasonOf(attempt({ lookup: directory({ notAfterMs: nowMs - 1 }) }))).toBe(TrustFailure.KEY_REVOKED);
    expect(reasonOf(attempt({ lookup: directory({ notAfterMs: nowMs }) }))).toBe("ok");
  });

  it("answers STALE_TIMESTAMP beyond the skew in both directions, and accepts the edges", () => {
    expect(reasonOf(attempt({ atMs: nowMs + 300_001 }))).toBe(TrustFailure.STALE_TIMESTAMP);
    expect(reasonOf(attempt({ atMs: nowMs - 300_001 }))).toBe(TrustFailure.STALE_TIMESTAMP);
    expect(reasonOf(attempt({ atMs: nowMs + 300_000 }))).toBe("ok");
    expect(reasonOf(attempt({ atMs: nowMs - 300_000 }))).toBe("ok");
  });

  it("answers BAD_SIGNATURE for a tampered digest, procedure, header or signature", () => {
    const otherDigest = sha256(utf8("transfer t-1 from bank-a to bank-c"));
    expect(reasonOf(attempt({ digest: otherDigest }))).toBe(TrustFailure.BAD_SIGNATURE);
    expect(reasonOf(attempt({ signedProcedure: "/clearmesh.clearing.v1.ClearingService/AbortTransfer" }))).toBe(
      TrustFailure.BAD_SIGNATURE,
    );
    expect(reasonOf(attempt({ headers: { ...signedHeaders(), [HEADER_TIMESTAMP]: String(nowMs + 1) } }))).toBe(
      TrustFailure.BAD_SIGNATURE,
    );
    const foreignSignature = signRpcRequest(createSigningKey("bank-a", "bank-a-1", generateSeed()), procedure, requestBytes, {
      timestampMs: nowMs,
    })[HEADER_SIGNATURE];
    expect(reasonOf(attempt({ headers: { ...signedHeaders(), [HEADER_SIGNATURE]: foreignSignature } }))).toBe(
      TrustFailure.BAD_SIGNATURE,
    );
  });

  it("answers REPLAYED_NONCE for the same call twice", () => {
    const cache = newCache();
    const headers = signedHeaders();
    expect(reasonOf(attempt({ headers, cache }))).toBe("ok");
    expect(reasonOf(attempt({ headers, cache, atMs: nowMs + 299_999 }))).toBe(TrustFailure.REPLAYED_NONCE);
  });

  it("answers NONCE_CAPACITY when the participant's nonce memory is full of live nonces", () => {
    const cache = newCache(2);
    expect(reasonOf(attempt({ cache }))).toBe("ok");
    expect(reasonOf(attempt({ cache }))).toBe("ok");
    expect(reasonOf(attempt({ cache }))).toBe(TrustFailure.NONCE_CAPACITY);
    expect(reasonOf(attempt({ cache, headers: signedHeaders({ timestampMs: nowMs + 300_001 }), atMs: nowMs + 300_001 }))).toBe(
      "ok",
    );
  });

  it("records no nonce for calls that fail before the signature check passes", () => {
    const cache = newCache(1);
    const headers = signedHeaders();
    expect(reasonOf(attempt({ headers: { ...headers, [HEADER_SIGNATURE]: toBase64(new Uint8Array(64)) }, cache }))).toBe(
      TrustFailure.BAD_SIGNATURE,
    );
    expect(reasonOf(attempt({ headers, cache, atMs: nowMs + 400_000 }))).toBe(TrustFailure.STALE_TIMESTAMP);
    expect(cache.nonceCount("bank-a")).toBe(0);
    expect(reasonOf(attempt({ headers, cache }))).toBe("ok");
  });

  it("refuses to run with a replay window shorter than the skew", () => {
    const cache = new ReplayCache({ windowMs: 1_000, maxNoncesPerParticipant: 10 });
    expect(() => attempt({ cache })).toThrow(RangeError);
  });
});

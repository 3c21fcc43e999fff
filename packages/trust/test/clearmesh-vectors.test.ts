import { describe, expect, it } from "vitest";
import {
  ReplayCache,
  createSigningKey,
  eventSignedText,
  fromBase64,
  fromHex,
  headerGetterFromRecord,
  rpcRequestSignedText,
  rpcResponseSignedText,
  sha256,
  signEvent,
  signRpcRequest,
  signRpcResponse,
  signWebhook,
  toBase64,
  toHex,
  utf8,
  verifyEventSignature,
  verifyRpcRequest,
  verifyRpcResponse,
  verifyWebhook,
  webhookSignedBytes,
} from "../src/index.js";
import type { EventFields, KeyRecord } from "../src/index.js";
import { loadVectors } from "./vectors.js";
import type { ClearmeshVectors } from "./vectors.js";

const vectors = loadVectors<ClearmeshVectors>("clearmesh-signatures.json");

describe("clearmesh-rpc-v1 request vector", () => {
  const vector = vectors.rpc_request;
  const key = createSigningKey(vector["cm-participant"], vector["cm-key-id"], fromHex(vector.seed));
  const requestBytes = fromHex(vector.request_bytes_hex);

  it("derives the vector's public key from its seed", () => {
    expect(toHex(key.publicKey)).toBe(vector.public_key);
  });

  it("builds the signed text exactly", () => {
    const text = rpcRequestSignedText({
      procedure: vector.procedure,
      participantId: vector["cm-participant"],
      keyId: vector["cm-key-id"],
      timestampMs: vector["cm-timestamp"],
      nonce: vector["cm-nonce"],
      requestDigest: sha256(requestBytes),
    });
    expect(text).toBe(vector.signed_text);
  });

  it("produces the five headers and the exact signature", () => {
    const headers = signRpcRequest(key, vector.procedure, requestBytes, {
      timestampMs: BigInt(vector["cm-timestamp"]),
      nonce: vector["cm-nonce"],
    });
    expect(headers).toEqual({
      "cm-participant": vector["cm-participant"],
      "cm-key-id": vector["cm-key-id"],
      "cm-timestamp": vector["cm-timestamp"],
      "cm-nonce": vector["cm-nonce"],
      "cm-signature": vector["cm-signature"],
    });
  });

  it("verifies the vector's headers", () => {
    const record: KeyRecord = { publicKey: fromHex(vector.public_key), status: "active" };
    const headers = headerGetterFromRecord({
      "cm-participant": vector["cm-participant"],
      "cm-key-id": vector["cm-key-id"],
      "cm-timestamp": vector["cm-timestamp"],
      "cm-nonce": vector["cm-nonce"],
      "cm-signature": vector["cm-signature"],
    });
    const cache = new ReplayCache({ windowMs: 300_000, maxNoncesPerParticipant: 10 });
    const nowMs = Number(vector["cm-timestamp"]) + 1_000;
    const lookup = (participantId: string, keyId: string) =>
      participantId === vector["cm-participant"] && keyId === vector["cm-key-id"] ? record : undefined;
    const result = verifyRpcRequest(headers, vector.procedure, sha256(requestBytes), lookup, cache, nowMs);
    expect(result).toEqual({
      ok: true,
      participantId: "bank-a",
      keyId: "bank-a-1",
      nonce: vector["cm-nonce"],
      timestampMs: 1764460800000,
    });
  });
});

describe("clearmesh-rpc-resp-v1 response vector", () => {
  const vector = vectors.rpc_response;
  const key = createSigningKey(vector["cm-participant"], vector["cm-key-id"], fromHex(vector.seed));
  const responseBytes = fromHex(vector.response_bytes_hex);

  it("builds the signed text exactly", () => {
    const text = rpcResponseSignedText({
      procedure: vector.procedure,
      requestNonce: vector.request_nonce,
      participantId: vector["cm-participant"],
      keyId: vector["cm-key-id"],
      timestampMs: vector["cm-timestamp"],
      responseDigest: sha256(responseBytes),
    });
    expect(text).toBe(vector.signed_text);
  });

  it("produces the four headers and the exact signature, and verifies them", () => {
    const headers = signRpcResponse(key, vector.procedure, vector.request_nonce, responseBytes, {
      timestampMs: Number(vector["cm-timestamp"]),
    });
    expect(headers).toEqual({
      "cm-participant": vector["cm-participant"],
      "cm-key-id": vector["cm-key-id"],
      "cm-timestamp": vector["cm-timestamp"],
      "cm-signature": vector["cm-signature"],
    });
    const lookup = () => fromHex(vector.public_key);
    const getHeader = headerGetterFromRecord(headers);
    expect(verifyRpcResponse(getHeader, vector.procedure, vector.request_nonce, responseBytes, lookup)).toBe(true);
    expect(verifyRpcResponse(getHeader, vector.procedure, "AAECAwQFBgcICQoLDA0ODx", responseBytes, lookup)).toBe(false);
    expect(verifyRpcResponse(getHeader, vector.procedure, vector.request_nonce, utf8("other"), lookup)).toBe(false);
  });

  it("refuses a response signed by a revoked key or an unknown one", () => {
    const getHeader = headerGetterFromRecord({
      "cm-participant": vector["cm-participant"],
      "cm-key-id": vector["cm-key-id"],
      "cm-timestamp": vector["cm-timestamp"],
      "cm-signature": vector["cm-signature"],
    });
    const revoked = () => ({ publicKey: fromHex(vector.public_key), status: "revoked" as const });
    const active = () => ({ publicKey: fromHex(vector.public_key), status: "active" as const });
    expect(verifyRpcResponse(getHeader, vector.procedure, vector.request_nonce, responseBytes, revoked)).toBe(false);
    expect(verifyRpcResponse(getHeader, vector.procedure, vector.request_nonce, responseBytes, () => undefined)).toBe(false);
    expect(verifyRpcResponse(getHeader, vector.procedure, vector.request_nonce, responseBytes, active)).toBe(true);
  });
});

describe("clearmesh-event-v1 vector", () => {
  const vector = vectors.event;
  const key = createSigningKey(vector.producer, vector.key_id, fromHex(vector.seed));
  const fields: EventFields = {
    id: vector.id,
    type: vector.type,
    producer: vector.producer,
    keyId: vector.key_id,
    producedAtMs: BigInt(vector.produced_at_ms),
    subject: vector.subject,
    payload: fromHex(vector.payload_hex),
  };

  it("builds the signed text exactly, whatever the type of producedAtMs", () => {
    expect(eventSignedText(fields)).toBe(vector.signed_text);
    expect(eventSignedText({ ...fields, producedAtMs: vector.produced_at_ms })).toBe(vector.signed_text);
    expect(eventSignedText({ ...fields, producedAtMs: String(vector.produced_at_ms) })).toBe(vector.signed_text);
  });

  it("produces the exact signature, the one carried in the vector's envelope bytes", () => {
    const signature = signEvent(key, fields);
    expect(toBase64(signature)).toBe(vector.signature_b64);
    // Field 8 (bytes, tag 0x42) of length 64 (0x40) closes the envelope.
    expect(vector.envelope_bytes_hex.endsWith(`4240${toHex(signature)}`)).toBe(true);
  });

  it("verifies the vector and refuses any changed field", () => {
    const publicKey = fromHex(vector.public_key);
    const signature = fromBase64(vector.signature_b64);
    expect(verifyEventSignature(publicKey, fields, signature)).toBe(true);
    expect(verifyEventSignature(publicKey, { ...fields, subject: "clearmesh.clearing.transfer.aborted" }, signature)).toBe(false);
    expect(verifyEventSignature(publicKey, { ...fields, producedAtMs: 1764460800101n }, signature)).toBe(false);
    expect(verifyEventSignature(publicKey, { ...fields, payload: fromHex("0a03742d32") }, signature)).toBe(false);
    expect(verifyEventSignature(publicKey, { ...fields, id: "x\ny" }, signature)).toBe(false);
  });

  it("refuses to sign an event that names another key", () => {
    expect(() => signEvent(key, { ...fields, producer: "wallet" })).toThrow(/signing key is clearing\/clearing-1/);
  });
});

describe("clearmesh-webhook-v1 vector", () => {
  const vector = vectors.webhook;
  const key = createSigningKey("e-commerce-connector", vector["cm-webhook-key-id"], fromHex(vector.seed));
  const body = utf8(vector.body);
  const timestampMs = Number(vector["cm-webhook-timestamp"]);

  it("signs the four lines and the body exactly", () => {
    const signed = webhookSignedBytes(vector["cm-webhook-id"], timestampMs, vector["cm-webhook-key-id"], body);
    const expectedHead = `clearmesh-webhook-v1\nwh-1\n${vector["cm-webhook-timestamp"]}\n${vector["cm-webhook-key-id"]}\n`;
    expect(Buffer.from(signed).toString("utf8")).toBe(expectedHead + vector.body);
    expect(signWebhook(key, vector["cm-webhook-id"], timestampMs, body)).toEqual({
      "cm-webhook-id": vector["cm-webhook-id"],
      "cm-webhook-timestamp": vector["cm-webhook-timestamp"],
      "cm-webhook-key-id": vector["cm-webhook-key-id"],
      "cm-webhook-signature": vector["cm-webhook-signature"],
    });
  });

  it("verifies the vector's headers", () => {
    const getHeader = headerGetterFromRecord({
      "cm-webhook-id": vector["cm-webhook-id"],
      "cm-webhook-timestamp": vector["cm-webhook-timestamp"],
      "cm-webhook-key-id": vector["cm-webhook-key-id"],
      "cm-webhook-signature": vector["cm-webhook-signature"],
    });
    const lookup = (keyId: string) => (keyId === vector["cm-webhook-key-id"] ? fromHex(vector.public_key) : undefined);
    expect(verifyWebhook(getHeader, body, lookup, timestampMs + 60_000)).toEqual({
      ok: true,
      id: "wh-1",
      keyId: vector["cm-webhook-key-id"],
      timestampMs,
    });
  });
});

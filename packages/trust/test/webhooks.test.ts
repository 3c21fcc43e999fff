import { describe, expect, it } from "vitest";
import {
  HEADER_WEBHOOK_ID,
  HEADER_WEBHOOK_KEY_ID,
  HEADER_WEBHOOK_SIGNATURE,
  HEADER_WEBHOOK_TIMESTAMP,
  TrustFailure,
  createSigningKey,
  generateSeed,
  headerGetterFromRecord,
  signWebhook,
  utf8,
  verifyWebhook,
} from "../src/index.js";
import type { WebhookVerification } from "../src/index.js";

const key = createSigningKey("e-commerce-connector", "e-commerce-connector-1", generateSeed());
const body = utf8('{"id":"wh-9","type":"refund.succeeded"}');
const sentAtMs = 1_764_460_800_200;
const lookup = (keyId: string) => (keyId === key.keyId ? key.publicKey : undefined);

function receive(headers: Record<string, string | undefined>, received = body, nowMs = sentAtMs): WebhookVerification {
  const present = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as Record<string, string>;
  return verifyWebhook(headerGetterFromRecord(present), received, lookup, nowMs);
}

function reasonOf(result: WebhookVerification): TrustFailure | "ok" {
  return result.ok ? "ok" : result.reason;
}

describe("verifyWebhook", () => {
  const headers = signWebhook(key, "wh-9", sentAtMs, body);

  it("accepts a signed delivery and returns its id for dedupe", () => {
    expect(receive(headers)).toEqual({ ok: true, id: "wh-9", keyId: key.keyId, timestampMs: sentAtMs });
  });

  it("answers SIGNATURE_MISSING, UNKNOWN_KEY and BAD_SIGNATURE for the right input", () => {
    expect(reasonOf(receive({ ...headers, [HEADER_WEBHOOK_SIGNATURE]: undefined }))).toBe(TrustFailure.SIGNATURE_MISSING);
    expect(reasonOf(receive({ ...headers, [HEADER_WEBHOOK_KEY_ID]: "old-key" }))).toBe(TrustFailure.UNKNOWN_KEY);
    expect(reasonOf(receive(headers, utf8('{"id":"wh-9","type":"refund.failed"}')))).toBe(TrustFailure.BAD_SIGNATURE);
    expect(reasonOf(receive({ ...headers, [HEADER_WEBHOOK_ID]: "wh-10" }))).toBe(TrustFailure.BAD_SIGNATURE);
    const bare = headers[HEADER_WEBHOOK_SIGNATURE]?.replace("ed25519=", "");
    expect(reasonOf(receive({ ...headers, [HEADER_WEBHOOK_SIGNATURE]: bare }))).toBe(TrustFailure.BAD_SIGNATURE);
    expect(reasonOf(receive({ ...headers, [HEADER_WEBHOOK_TIMESTAMP]: "soon" }))).toBe(TrustFailure.BAD_SIGNATURE);
  });

  it("answers STALE_TIMESTAMP for deliveries older than five minutes or too far ahead", () => {
    expect(reasonOf(receive(headers, body, sentAtMs + 300_000))).toBe("ok");
    expect(reasonOf(receive(headers, body, sentAtMs + 300_001))).toBe(TrustFailure.STALE_TIMESTAMP);
    expect(reasonOf(receive(headers, body, sentAtMs - 300_001))).toBe(TrustFailure.STALE_TIMESTAMP);
  });
});

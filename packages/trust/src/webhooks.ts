import { fromBase64, toBase64, utf8 } from "./encoding.js";
import { TrustFailure } from "./errors.js";
import { TOKEN_PATTERN, assertSingleLine, millisecondsText, parseMillisecondsHeader } from "./fields.js";
import type { MillisecondsValue } from "./fields.js";
import type { HeaderGetter } from "./headers.js";
import { SIGNATURE_BYTES, ed25519Verify } from "./keys.js";
import type { SigningKey } from "./keys.js";

export const HEADER_WEBHOOK_ID = "cm-webhook-id";
export const HEADER_WEBHOOK_TIMESTAMP = "cm-webhook-timestamp";
export const HEADER_WEBHOOK_KEY_ID = "cm-webhook-key-id";
export const HEADER_WEBHOOK_SIGNATURE = "cm-webhook-signature";

export const WEBHOOK_CONTEXT = "clearmesh-webhook-v1";
export const WEBHOOK_SIGNATURE_PREFIX = "ed25519=";
export const DEFAULT_WEBHOOK_MAX_AGE_MS = 300_000;

export type WebhookKeyLookup = (keyId: string) => Uint8Array | undefined;

export type WebhookVerification =
  | { ok: true; id: string; keyId: string; timestampMs: number }
  | { ok: false; reason: TrustFailure };

/** The four lines, each followed by \n, then the exact body bytes. */
export function webhookSignedBytes(
  id: string,
  timestampMs: MillisecondsValue,
  keyId: string,
  body: Uint8Array,
): Uint8Array {
  const timestampText = typeof timestampMs === "string" ? timestampMs : millisecondsText("timestampMs", timestampMs);
  const lines = [WEBHOOK_CONTEXT, id, timestampText, keyId];
  lines.forEach((line, index) => assertSingleLine(`webhook line ${index + 1}`, line));
  const head = utf8(lines.map((line) => `${line}\n`).join(""));
  const signed = new Uint8Array(head.length + body.length);
  signed.set(head, 0);
  signed.set(body, head.length);
  return signed;
}

export function signWebhook(
  key: SigningKey,
  id: string,
  timestampMs: number | bigint,
  body: Uint8Array,
): Record<string, string> {
  const timestampText = millisecondsText("timestampMs", timestampMs);
  const signature = key.sign(webhookSignedBytes(id, timestampText, key.keyId, body));
  return {
    [HEADER_WEBHOOK_ID]: id,
    [HEADER_WEBHOOK_TIMESTAMP]: timestampText,
    [HEADER_WEBHOOK_KEY_ID]: key.keyId,
    [HEADER_WEBHOOK_SIGNATURE]: `${WEBHOOK_SIGNATURE_PREFIX}${toBase64(signature)}`,
  };
}

function decodeWebhookSignature(text: string): Uint8Array | undefined {
  if (!text.startsWith(WEBHOOK_SIGNATURE_PREFIX)) return undefined;
  try {
    const signature = fromBase64(text.slice(WEBHOOK_SIGNATURE_PREFIX.length));
    return signature.length === SIGNATURE_BYTES ? signature : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies a received webhook. Refuses timestamps more than maxAgeMs from now in either
 * direction. The receiver still dedupes by the returned id (delivery is at least once).
 */
export function verifyWebhook(
  getHeader: HeaderGetter,
  body: Uint8Array,
  lookupKey: WebhookKeyLookup,
  nowMs: number,
  maxAgeMs: number = DEFAULT_WEBHOOK_MAX_AGE_MS,
): WebhookVerification {
  const id = getHeader(HEADER_WEBHOOK_ID) ?? "";
  const timestampText = getHeader(HEADER_WEBHOOK_TIMESTAMP) ?? "";
  const keyId = getHeader(HEADER_WEBHOOK_KEY_ID) ?? "";
  const signatureText = getHeader(HEADER_WEBHOOK_SIGNATURE) ?? "";
  if (!id || !timestampText || !keyId || !signatureText) return { ok: false, reason: TrustFailure.SIGNATURE_MISSING };
  const timestampMs = parseMillisecondsHeader(timestampText);
  const signature = decodeWebhookSignature(signatureText);
  if (!TOKEN_PATTERN.test(id) || !TOKEN_PATTERN.test(keyId) || timestampMs === undefined || signature === undefined) {
    return { ok: false, reason: TrustFailure.BAD_SIGNATURE };
  }
  const publicKey = lookupKey(keyId);
  if (publicKey === undefined) return { ok: false, reason: TrustFailure.UNKNOWN_KEY };
  if (Math.abs(nowMs - timestampMs) > maxAgeMs) return { ok: false, reason: TrustFailure.STALE_TIMESTAMP };
  const signedBytes = webhookSignedBytes(id, timestampText, keyId, body);
  if (!ed25519Verify(publicKey, signedBytes, signature)) return { ok: false, reason: TrustFailure.BAD_SIGNATURE };
  return { ok: true, id, keyId, timestampMs };
}

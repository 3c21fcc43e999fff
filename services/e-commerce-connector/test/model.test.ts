// The pure parts without I/O: the intent state machine, capture and refund amounts, the wallet
// transfer check, the webhook retry schedule and its settings.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { CaptureMethod, PaymentIntentState, TransferSchema, TransferState, WebhookDeliveryState } from "@clearmesh/contracts";
import { CommerceFailure } from "../src/errors.js";
import { ALLOWED_STATES, TRANSITIONS, canTransition, captureAmount, refundAmount, requireState, walletTransferMismatch, type IntentRecord } from "../src/intents/model.js";
import { parseBackoffSchedule } from "../src/settings.js";
import { retryDelayMs, stateAfterAttempt, type RetryPolicy } from "../src/webhooks/schedule.js";

const S = PaymentIntentState;

function intent(overrides: Partial<IntentRecord> = {}): IntentRecord {
  return {
    paymentIntentId: "pi-1", merchantId: "shop-one", acquirerId: "acquirer-a", currency: "USD", amountMinor: 10_000n, state: S.REQUIRES_PAYMENT_METHOD,
    captureMethod: CaptureMethod.AUTOMATIC, merchantReference: "", description: "", metadata: {}, paymentMethodType: "", paymentMethodDetail: "",
    paymentMethodKey: "", payerId: "", payerReference: "", transferId: "", capturedMinor: 0n, refundedMinor: 0n, captureMinor: 0n, step: "",
    failureReason: "", followup: "", followupAttempts: 0, createdAtMs: 0, updatedAtMs: 0, touchedAtMs: 0, ...overrides,
  };
}

const money = (amountMinor: bigint, currency = "USD") => ({ $typeName: "clearmesh.common.v1.Money" as const, currency, amountMinor });

function failure(work: () => unknown): CommerceFailure {
  try {
    work();
  } catch (error) {
    if (error instanceof CommerceFailure) return error;
    throw error;
  }
  throw new Error("expected a CommerceFailure");
}

describe("intent state machine", () => {
  it("has final states with no way out, and every call starts from a state that can move", () => {
    for (const final of [S.SUCCEEDED, S.CANCELED, S.FAILED]) expect(TRANSITIONS.get(final)).toEqual([]);
    expect(canTransition(S.REQUIRES_PAYMENT_METHOD, S.SUCCEEDED)).toBe(false);
    expect(canTransition(S.REQUIRES_CAPTURE, S.PROCESSING)).toBe(true);
    for (const [action, states] of Object.entries(ALLOWED_STATES)) {
      if (action === "refund") continue;
      for (const state of states) expect(TRANSITIONS.get(state)!.length, `${action} from ${S[state]}`).toBeGreaterThan(0);
    }
  });

  it("names the current and allowed states when a call comes in the wrong state", () => {
    const refused = failure(() => requireState(intent({ state: S.CANCELED }), "confirm"));
    expect(refused.reason).toBe("INTENT_STATE_INVALID");
    expect(refused.metadata).toMatchObject({ state: "CANCELED", allowed: "REQUIRES_PAYMENT_METHOD" });
    expect(refused.message).toContain("CANCELED");
    expect(failure(() => requireState(intent({ state: S.SUCCEEDED }), "cancel")).metadata.allowed).toBe("REQUIRES_PAYMENT_METHOD,REQUIRES_CAPTURE");
  });
});

describe("amounts", () => {
  it("captures all by default, part when asked, never more than authorized", () => {
    expect(captureAmount(intent(), undefined)).toBe(10_000n);
    expect(captureAmount(intent(), money(2_500n))).toBe(2_500n);
    expect(failure(() => captureAmount(intent(), money(10_001n))).reason).toBe("CAPTURE_ABOVE_AUTHORIZED");
    expect(failure(() => captureAmount(intent(), money(5n, "EUR"))).metadata.field).toBe("amount.currency");
    expect(failure(() => captureAmount(intent(), money(0n))).reason).toBe("INVALID_ARGUMENT");
  });

  it("never lets refunds add up to more than was captured (any sequence of asks)", () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 1_000_000n }), fc.array(fc.option(fc.bigInt({ min: -5n, max: 400_000n })), { maxLength: 30 }), (captured, asks) => {
      let refunded = 0n;
      for (const ask of asks) {
        try {
          refunded += refundAmount(intent({ amountMinor: captured, capturedMinor: captured, refundedMinor: refunded, state: S.SUCCEEDED }), ask === null ? undefined : money(ask));
        } catch (error) {
          expect(error).toBeInstanceOf(CommerceFailure);
        }
        expect(refunded).toBeLessThanOrEqual(captured);
      }
    }));
    expect(failure(() => refundAmount(intent({ capturedMinor: 100n, refundedMinor: 100n }), undefined)).reason).toBe("REFUND_ABOVE_CAPTURED");
  });
});

describe("wallet transfer check", () => {
  const transfer = (overrides: Record<string, unknown> = {}) => create(TransferSchema, {
    transferId: "t-1", payerId: "wallet-a", payeeId: "acquirer-a", amount: money(10_000n), payeeAmount: money(9_900n), state: TransferState.RESERVED, ...overrides,
  });

  it("accepts the provider's reserved transfer of the exact amount to the acquirer", () => {
    expect(walletTransferMismatch(intent(), "wallet-a", transfer())).toBeUndefined();
  });

  it("names the first field that does not match", () => {
    expect(walletTransferMismatch(intent(), "wallet-b", transfer())?.field).toBe("payer_id");
    expect(walletTransferMismatch(intent(), "wallet-a", transfer({ payeeId: "bank-b" }))?.field).toBe("payee_id");
    expect(walletTransferMismatch(intent(), "wallet-a", transfer({ amount: money(9_999n) }))?.field).toBe("amount.amount_minor");
    expect(walletTransferMismatch(intent(), "wallet-a", transfer({ amount: money(10_000n, "EUR") }))?.field).toBe("amount.currency");
    expect(walletTransferMismatch(intent(), "wallet-a", transfer({ fxProviderId: "fx-1" }))?.field).toBe("fx_provider_id");
    expect(walletTransferMismatch(intent(), "wallet-a", transfer({ condition: new Uint8Array(32) }))?.field).toBe("condition");
    expect(walletTransferMismatch(intent(), "wallet-a", transfer({ state: TransferState.COMMITTED }))?.field).toBe("state");
  });
});

describe("webhook schedule", () => {
  const policy: RetryPolicy = { backoffMs: [1_000, 5_000, 30_000], jitterPercent: 20, maxAttempts: 5 };

  it("follows the schedule, repeats its last step, and jitter only shortens", () => {
    expect(retryDelayMs(policy, 1, () => 0)).toBe(1_000);
    expect(retryDelayMs(policy, 2, () => 0)).toBe(5_000);
    expect(retryDelayMs(policy, 7, () => 0)).toBe(30_000);
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.double({ min: 0, max: 0.999_999, noNaN: true }), (failed, random) => {
      const base = policy.backoffMs[Math.min(failed, 3) - 1]!;
      const delay = retryDelayMs(policy, failed, () => random);
      expect(delay).toBeLessThanOrEqual(base);
      expect(delay).toBeGreaterThanOrEqual(base * 0.8);
    }));
  });

  it("delivers on 2xx, retries other answers, and dead-letters at the maximum", () => {
    expect(stateAfterAttempt(policy, 0, { httpStatus: 204, error: "" }, 0, Math.random).state).toBe(WebhookDeliveryState.DELIVERED);
    expect(stateAfterAttempt(policy, 0, { httpStatus: 302, error: "HTTP 302" }, 1_000, () => 0)).toEqual({ state: WebhookDeliveryState.PENDING, nextAttemptAtMs: 2_000 });
    expect(stateAfterAttempt(policy, 3, { httpStatus: 0, error: "timeout" }, 0, () => 0).state).toBe(WebhookDeliveryState.PENDING);
    expect(stateAfterAttempt(policy, 4, { httpStatus: 500, error: "HTTP 500" }, 0, () => 0).state).toBe(WebhookDeliveryState.DEAD_LETTERED);
  });

  it("parses WEBHOOK_BACKOFF_MS and refuses nonsense", () => {
    expect(parseBackoffSchedule("1000, 5000,30000")).toEqual([1_000, 5_000, 30_000]);
    expect(() => parseBackoffSchedule("1000,,5")).toThrow();
    expect(() => parseBackoffSchedule("0")).toThrow();
    expect(() => parseBackoffSchedule("1.5")).toThrow();
  });
});

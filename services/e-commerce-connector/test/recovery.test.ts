// No stuck payments: intents left PROCESSING by a connector that stopped between steps are
// finished by the sweeper of the next connector on the same store, from clearing's record.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CaptureMethod, PaymentIntentState, TransferState } from "@clearmesh/contracts";
import { WebhookSink, fund, positionOf, prepareWalletTransfer, registerMerchant, startCommerceMesh, waitFor, type CommerceMesh, type TestMerchant } from "./support.js";

let cm: CommerceMesh;
let sink: WebhookSink;
let shop: TestMerchant;
let counter = 0;
const nextId = (prefix: string) => `${prefix}-${Date.now()}-${(counter += 1)}`;
const TEN_MINUTES_MS = 600_000;

beforeAll(async () => {
  cm = await startCommerceMesh({ WEBHOOK_POLL_MS: "50", SWEEP_INTERVAL_MS: "200" });
  sink = WebhookSink.forMesh(cm.mesh);
  await sink.start();
  await fund(cm.mesh, "wallet-a", 1_000_000n);
  shop = await registerMerchant(cm, "shop-crash", sink);
}, 60_000);

afterAll(async () => {
  await cm?.stop();
  await sink?.close();
});

async function createIntent(amountMinor: bigint, captureMethod = CaptureMethod.AUTOMATIC): Promise<string> {
  const paymentIntentId = nextId("pi");
  await shop.client.createPaymentIntent({ paymentIntentId, merchantId: "shop-crash", amount: { currency: "USD", amountMinor }, captureMethod });
  return paymentIntentId;
}

/** The row as a connector leaves it when it stops right after persisting PROCESSING. */
async function leaveProcessing(paymentIntentId: string, transferId: string, step: "confirm" | "capture", options: { captureMinor?: bigint; touchedAtMs?: number } = {}) {
  const { changes } = await cm.connector().store.execute(
    `UPDATE payment_intents SET state = $2, payment_method_type = 'wallet', payment_method_detail = 'wallet-a', payment_method_key = $3,
       payer_id = 'wallet-a', payer_reference = 'wallet-user-42', transfer_id = $3, step = $4, capture_minor = $5, touched_at_ms = $6
     WHERE payment_intent_id = $1`,
    [paymentIntentId, PaymentIntentState.PROCESSING, transferId, step, options.captureMinor ?? 0n, BigInt(options.touchedAtMs ?? Date.now() - TEN_MINUTES_MS)],
  );
  expect(changes).toBe(1);
}

describe("sweeper", () => {
  it("finishes every intent a stopped connector left PROCESSING, from what clearing says", async () => {
    const [walletBefore, acquirerBefore] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    const acquirer = cm.clearingAs("acquirer-a");

    // Committed at clearing, then the connector stopped before recording it: SUCCEEDED.
    const committed = await createIntent(4_000n);
    const committedTransfer = nextId("tr");
    await prepareWalletTransfer(cm, committedTransfer, 4_000n);
    await acquirer.commitTransfer({ transferId: committedTransfer });
    await leaveProcessing(committed, committedTransfer, "confirm");

    // Still reserved when the connector stopped mid-confirm: released (aborted as payee) and FAILED.
    const reserved = await createIntent(3_000n);
    const reservedTransfer = nextId("tr");
    await prepareWalletTransfer(cm, reservedTransfer, 3_000n);
    await leaveProcessing(reserved, reservedTransfer, "confirm");

    // Stopped during a manual capture the merchant asked for: the capture is finished as asked.
    const capturing = await createIntent(6_000n, CaptureMethod.MANUAL);
    const capturingTransfer = nextId("tr");
    await prepareWalletTransfer(cm, capturingTransfer, 6_000n);
    await cm.commerce(cm.mesh.keys.get("wallet-a")).confirmPaymentIntent({ paymentIntentId: capturing, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId: capturingTransfer } } });
    await leaveProcessing(capturing, capturingTransfer, "capture", { captureMinor: 2_500n });

    // A transfer clearing never saw: FAILED.
    const missing = await createIntent(1_000n);
    await leaveProcessing(missing, nextId("tr-never-prepared"), "confirm");

    // PROCESSING for less than PROCESSING_TIMEOUT_MS: a live call may still finish it, so it is left alone.
    const recent = await createIntent(1_200n);
    const recentTransfer = nextId("tr");
    await prepareWalletTransfer(cm, recentTransfer, 1_200n);
    await leaveProcessing(recent, recentTransfer, "confirm", { touchedAtMs: Date.now() });

    await cm.restartConnector({ SWEEP_INTERVAL_MS: "200" });
    const merchant = cm.commerce(shop.key);
    const stateOf = async (paymentIntentId: string) => merchant.getPaymentIntent({ paymentIntentId });
    const settled = await waitFor("the sweeper to settle four intents", async () => {
      const intents = await Promise.all([committed, reserved, capturing, missing].map(stateOf));
      return intents.every((intent) => intent.state !== PaymentIntentState.PROCESSING) ? intents : undefined;
    });
    const [committedIntent, reservedIntent, capturingIntent, missingIntent] = settled;
    expect(committedIntent).toMatchObject({ state: PaymentIntentState.SUCCEEDED, captured: { amountMinor: 4_000n } });
    expect(reservedIntent!.state).toBe(PaymentIntentState.FAILED);
    expect(capturingIntent).toMatchObject({ state: PaymentIntentState.SUCCEEDED, captured: { amountMinor: 2_500n } });
    expect(missingIntent).toMatchObject({ state: PaymentIntentState.FAILED, failureReason: "the payment never reached clearing" });
    const wallet = cm.clearingAs("wallet-a");
    await waitFor("the reserved transfer aborted", async () => (await wallet.getTransfer({ transferId: reservedTransfer })).state === TransferState.ABORTED);
    expect(await wallet.getTransfer({ transferId: capturingTransfer })).toMatchObject({ state: TransferState.COMMITTED, amount: { amountMinor: 2_500n } });
    expect((await stateOf(recent)).state).toBe(PaymentIntentState.PROCESSING);

    const [walletAfter, acquirerAfter] = [await positionOf(cm.mesh, "wallet-a"), await positionOf(cm.mesh, "acquirer-a")];
    expect(walletAfter.position - walletBefore.position).toBe(4_000n + 2_500n);
    // Still reserved: only the recent intent's transfer.
    expect(walletAfter.reserved - walletBefore.reserved).toBe(1_200n);
    expect(acquirerAfter.position - acquirerBefore.position).toBe(-(3_960n + 2_475n));

    // The merchant hears of each outcome by a signed webhook from the new connector.
    await waitFor("outcome webhooks", () => {
      const types = new Map(sink.eventsOf("shop-crash").filter((event) => event.type !== "payment_intent.processing" && event.type !== "payment_intent.requires_capture")
        .map((event) => [event.paymentIntent!.paymentIntentId, event.type]));
      return types.get(committed) === "payment_intent.succeeded" && types.get(reserved) === "payment_intent.failed"
        && types.get(capturing) === "payment_intent.succeeded" && types.get(missing) === "payment_intent.failed";
    });
    expect(sink.badSignatures).toEqual([]);
  });
});

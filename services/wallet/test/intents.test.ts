// PayPaymentIntent against real clearing, with a stand-in connector that commits the prepared
// transfer as the acquirer: the debit is booked from clearing's committed event by the wallet's
// own consumer (the call never reads the transfer at clearing), a call whose event comes late
// asks clearing and the event books the payment once, racing calls with one request id hold and
// pay once, and a payment beyond the balance holds nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "nats";
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  CaptureMethod, ClearingService, EnvelopeSchema, NotificationRequestedSchema, PaymentIntentSchema, PaymentIntentState, WalletTransactionState,
  type NotificationRequested, type PaymentIntent,
} from "@clearmesh/contracts";
import { createSignedClient } from "@clearmesh/runtime";
import { TransferBookings } from "../src/payments/bookings.js";
import { clearingGateway } from "../src/payments/clearing.js";
import type { CommerceGateway } from "../src/payments/partners.js";
import { available, bearer, fundUser, outcomeOf, registerAndLogin, startWalletMesh, waitFor, type TestUser, type WalletClient, type WalletMesh } from "./support.js";

describe("transfer bookings", () => {
  it("answers a call booked before or while it waits, and gives up after its wait", async () => {
    const bookings = new TransferBookings();
    const early = bookings.expect("t-early");
    bookings.settled("t-early");
    expect(await early.booked(1_000)).toBe(true);
    const waiting = bookings.expect("t-late");
    const answer = waiting.booked(1_000);
    setTimeout(() => bookings.settled("t-late"), 20);
    expect(await answer).toBe(true);
    const never = bookings.expect("t-never");
    bookings.settled("t-other");
    expect(await never.booked(30)).toBe(false);
    for (const booking of [early, waiting, never]) booking.cancel();
    expect(bookings.listening).toBe(false);
  });
});

describe("paying payment intents", () => {
  let walletMesh: WalletMesh;
  let client: WalletClient;
  let nc: NatsConnection;
  const notifications: NotificationRequested[] = [];
  const intents = new Map<string, PaymentIntent>();
  /** GetTransfer calls the wallet made, by transfer id. */
  const transferReads = new Map<string, number>();
  /** How long the stand-in connector lets clearing wait before committing, after answering SUCCEEDED. */
  let commitLateMs = 0;
  let alice: TestUser;

  const intent = (paymentIntentId: string, amountMinor: bigint, merchantReference: string) => {
    const created = create(PaymentIntentSchema, {
      paymentIntentId, merchantId: "shop-test", amount: { currency: "USD", amountMinor }, state: PaymentIntentState.REQUIRES_PAYMENT_METHOD,
      merchantReference, captureMethod: CaptureMethod.AUTOMATIC, acquirerId: "acquirer-a", createdAt: timestampFromMs(Date.now()),
    });
    intents.set(paymentIntentId, created);
    return created;
  };

  beforeAll(async () => {
    walletMesh = await startWalletMesh({
      walletOptions: ({ mesh, clearingAddress }) => {
        const keys = new Map(["wallet-a", "wallet-b"].map((id) => [id, mesh.keys.get(id)!]));
        const real = clearingGateway(createSignedClient(ClearingService, { address: clearingAddress }), keys, 3_000);
        const commerce: CommerceGateway = {
          async getPaymentIntent(_providerId, paymentIntentId) {
            const found = intents.get(paymentIntentId);
            return found ? { kind: "ok", value: found } : { kind: "refused", reason: "INTENT_NOT_FOUND", message: "no such intent", field: "payment_intent_id" };
          },
          // The connector's part: PROCESSING, commit the wallet's transfer as the acquirer, SUCCEEDED.
          async confirmPaymentIntent(_providerId, request) {
            const paymentIntentId = request.paymentIntentId!;
            const transferId = request.paymentMethod?.case === "wallet" ? request.paymentMethod.value.transferId! : "";
            const moved = (state: PaymentIntentState) => {
              const next = create(PaymentIntentSchema, { ...intents.get(paymentIntentId)!, state, transferId });
              intents.set(paymentIntentId, next);
              return next;
            };
            moved(PaymentIntentState.PROCESSING);
            const commit = async () => {
              await walletMesh.clearingAs("acquirer-a").commitTransfer({ transferId });
              return moved(PaymentIntentState.SUCCEEDED);
            };
            if (commitLateMs === 0) return { kind: "ok", value: await commit() };
            // Answered as if committed, while clearing (and so its event) comes later.
            setTimeout(() => void commit(), commitLateMs);
            return { kind: "ok", value: create(PaymentIntentSchema, { ...intents.get(paymentIntentId)!, state: PaymentIntentState.SUCCEEDED }) };
          },
        };
        return {
          commerce,
          clearing: {
            ...real,
            getTransfer(providerId, transferId) {
              transferReads.set(transferId, (transferReads.get(transferId) ?? 0) + 1);
              return real.getTransfer(providerId, transferId);
            },
          },
        };
      },
    });
    client = walletMesh.clients[0]!;
    nc = await connect({ servers: walletMesh.mesh.nats.url });
    const subscription = nc.subscribe("clearmesh.notify.requested");
    void (async () => {
      for await (const message of subscription) notifications.push(fromBinary(NotificationRequestedSchema, fromBinary(EnvelopeSchema, message.data).payload));
    })();
    alice = await registerAndLogin(client, "wallet-a", "payer");
    await fundUser(walletMesh, client, alice, 100_000n, "fund-intents-alice");
  }, 60_000);
  afterAll(async () => {
    await nc?.drain();
    await walletMesh?.stop();
  });

  const position = async (participantId: string) => (await walletMesh.mesh.operator.getPosition({ participantId, currency: "USD" })).positionMinor;
  const held = async (user: TestUser) => (await client.getBalances({}, bearer(user.token))).wallets.find((wallet) => wallet.held?.currency === "USD")?.held?.amountMinor ?? 0n;

  it("books the debit from clearing's committed event, without reading the transfer at clearing", async () => {
    const before = { alice: await available(client, alice), wallet: await position("wallet-a") };
    intent("pi-event-1", 3_000n, "order-31");
    const paid = await client.payPaymentIntent({ requestId: "pay-event-1", paymentIntentId: "pi-event-1" }, bearer(alice.token));
    expect(paid).toMatchObject({ state: WalletTransactionState.COMPLETED, amount: { amountMinor: 3_000n }, fee: { amountMinor: 40n } });
    expect(transferReads.get(paid.transferId) ?? 0).toBe(0);
    expect(await available(client, alice)).toBe(before.alice - 3_000n);
    expect(await held(alice)).toBe(0n);
    expect(await position("wallet-a")).toBe(before.wallet + 3_000n);
    // The notification names the merchant and its reference, whoever booked the payment.
    await waitFor(() => notifications.some((note) => note.notificationId === `${paid.transactionId}.done`), "the payment's notification");
    expect(notifications.find((note) => note.notificationId === `${paid.transactionId}.done`)!.parameters).toMatchObject({ merchant: "shop-test", reference: "order-31" });
  });

  it("asks clearing when the committed event comes late, and the event then books the payment once", async () => {
    const before = { alice: await available(client, alice), wallet: await position("wallet-a") };
    intent("pi-late-1", 2_000n, "order-32");
    commitLateMs = 1_200;
    const answered = await client.payPaymentIntent({ requestId: "pay-late-1", paymentIntentId: "pi-late-1" }, bearer(alice.token)).finally(() => { commitLateMs = 0; });
    // After its wait the call read the transfer at clearing: still reserved, so the payment is pending.
    expect(answered.state).toBe(WalletTransactionState.PENDING);
    expect(transferReads.get(answered.transferId)).toBe(1);
    await waitFor(async () => (await client.getTransaction({ transactionId: answered.transactionId }, bearer(alice.token))).state === WalletTransactionState.COMPLETED, "the event's booking");
    expect(await available(client, alice)).toBe(before.alice - 2_000n);
    expect(await held(alice)).toBe(0n);
    expect(await position("wallet-a")).toBe(before.wallet + 2_000n);
  });

  it("holds and pays once for racing calls with one request id", async () => {
    const before = await available(client, alice);
    intent("pi-race-1", 1_000n, "order-33");
    const answers = await Promise.all(Array.from({ length: 4 }, () => client.payPaymentIntent({ requestId: "pay-race-1", paymentIntentId: "pi-race-1" }, bearer(alice.token))));
    expect(new Set(answers.map((answer) => answer.transactionId)).size).toBe(1);
    await waitFor(async () => (await client.getTransaction({ transactionId: answers[0]!.transactionId }, bearer(alice.token))).state === WalletTransactionState.COMPLETED, "the payment");
    expect(await available(client, alice)).toBe(before - 1_000n);
    expect(await held(alice)).toBe(0n);
  });

  it("refuses a payment beyond the available balance with INSUFFICIENT_FUNDS, holding and recording nothing", async () => {
    const before = { alice: await available(client, alice), transactions: (await client.listTransactions({}, bearer(alice.token))).transactions.length };
    intent("pi-big-1", before.alice + 1n, "order-34");
    expect(await outcomeOf(client.payPaymentIntent({ requestId: "pay-big-1", paymentIntentId: "pi-big-1" }, bearer(alice.token))))
      .toMatchObject({ reason: "INSUFFICIENT_FUNDS", field: "payment_intent_id" });
    expect(await available(client, alice)).toBe(before.alice);
    expect(await held(alice)).toBe(0n);
    expect((await client.listTransactions({}, bearer(alice.token))).transactions).toHaveLength(before.transactions);
    // Within the balance the same intent is payable.
    intent("pi-big-1", before.alice, "order-34");
    expect((await client.payPaymentIntent({ requestId: "pay-big-2", paymentIntentId: "pi-big-1" }, bearer(alice.token))).state).toBe(WalletTransactionState.COMPLETED);
    expect(await available(client, alice)).toBe(0n);
  });
});

// How webhooks leave the connector: over kept-alive connections (reused after a complete answer,
// a request that meets a connection the merchant just closed sent again on a fresh one, a hung
// attempt's socket destroyed), and at once: a change's webhook is written leased to the instance
// and sent right after the commit, and a merchant's next webhook follows the one before it
// without waiting for the dispatcher's pass over the outbox.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentIntentState } from "@clearmesh/contracts";
import { createSigningKey, generateSeed } from "@clearmesh/trust";
import { createWebhookPoster } from "../src/webhooks/http.js";
import { fund, prepareWalletTransfer, startCommerceMesh, waitFor, type CommerceMesh } from "./support.js";

type Answer = (request: http.IncomingMessage, response: http.ServerResponse, requestOnSocket: number) => void;

interface Endpoint {
  url: string;
  connections: Socket[];
  requests: number;
  /** The webhooks received, in order: "<payment intent id> <type>". */
  received: string[];
  close(): Promise<void>;
}

/** A merchant endpoint that counts connections and requests per connection. */
async function endpoint(answer: Answer): Promise<Endpoint> {
  const perSocket = new Map<Socket, number>();
  const state: Endpoint = { url: "", connections: [], requests: 0, received: [], close: async () => undefined };
  const server = http.createServer((request, response) => {
    const count = (perSocket.get(request.socket) ?? 0) + 1;
    perSocket.set(request.socket, count);
    state.requests += 1;
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const event = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { type?: string; paymentIntent?: { paymentIntentId?: string } };
      state.received.push(`${event.paymentIntent?.paymentIntentId} ${event.type}`);
      answer(request, response, count);
    });
  });
  server.on("connection", (socket) => state.connections.push(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

const body = new TextEncoder().encode('{"id":"wh-test"}');
const signal = new AbortController().signal;

describe("webhook POSTs", () => {
  it("reuse one connection for a merchant's consecutive webhooks", async () => {
    const merchant = await endpoint((_request, response) => response.writeHead(204).end());
    const poster = createWebhookPoster();
    try {
      for (let index = 0; index < 3; index += 1) expect(await poster.post(merchant.url, body, {}, 2_000, signal)).toEqual({ httpStatus: 204, error: "" });
      expect(merchant.requests).toBe(3);
      expect(merchant.connections).toHaveLength(1);
    } finally {
      poster.close();
      await merchant.close();
    }
  });

  it("send a request again on a fresh connection when the merchant closed the kept one as it arrived", async () => {
    // The second request on any connection finds it closed without an answer (an idle timeout racing the request).
    const merchant = await endpoint((request, response, requestOnSocket) => (requestOnSocket > 1 ? request.socket.destroy() : response.writeHead(200).end("ok")));
    const poster = createWebhookPoster();
    try {
      expect(await poster.post(merchant.url, body, {}, 2_000, signal)).toEqual({ httpStatus: 200, error: "" });
      expect(await poster.post(merchant.url, body, {}, 2_000, signal)).toEqual({ httpStatus: 200, error: "" });
      expect(merchant.requests).toBe(3);
      expect(merchant.connections).toHaveLength(2);
    } finally {
      poster.close();
      await merchant.close();
    }
  });

  it("destroy the connection of an attempt that timed out, so a hung merchant holds no socket", async () => {
    const merchant = await endpoint(() => undefined);
    const poster = createWebhookPoster();
    try {
      expect(await poster.post(merchant.url, body, {}, 200, signal)).toEqual({ httpStatus: 0, error: "timeout after 200 ms" });
      await waitFor("the merchant's side of the connection to close", () => (merchant.connections[0]?.destroyed || merchant.connections[0]?.readableEnded) || undefined, 2_000, 10);
      expect(merchant.connections).toHaveLength(1);
    } finally {
      poster.close();
      await merchant.close();
    }
  });
});

describe("webhook dispatch", () => {
  let cm: CommerceMesh;

  beforeAll(async () => {
    // The dispatcher's own pass over the outbox would come only after a minute: whatever arrives sooner was sent at once.
    cm = await startCommerceMesh({ WEBHOOK_POLL_MS: "60000" });
    await fund(cm.mesh, "wallet-a", 1_000_000n);
  }, 60_000);

  afterAll(async () => {
    await cm?.stop();
  });

  it("sends a payment's webhooks right after their changes commit, each merchant's one after the other", async () => {
    // Answers after 100 ms: a payment's second webhook is written while its first is still in flight.
    const merchant = await endpoint((_request, response) => void setTimeout(() => response.writeHead(204).end(), 100));
    const key = createSigningKey("shop-prompt", "shop-prompt-1", generateSeed());
    await cm.commerce(cm.mesh.keys.get("operator")).registerMerchant({
      merchantId: "shop-prompt", name: "Prompt shop", webhookUrl: merchant.url, keyId: key.keyId, publicKey: key.publicKey, acquirerId: "acquirer-a",
    });
    const shop = cm.commerce(key);
    try {
      const paymentIntentIds = [`pi-prompt-${Date.now()}-1`, `pi-prompt-${Date.now()}-2`];
      for (const [index, paymentIntentId] of paymentIntentIds.entries()) {
        const amountMinor = 1_000n + BigInt(index);
        await shop.createPaymentIntent({ paymentIntentId, merchantId: "shop-prompt", amount: { currency: "USD", amountMinor } });
        const transferId = `tr-prompt-${Date.now()}-${index}`;
        await prepareWalletTransfer(cm, transferId, amountMinor);
        const paid = await cm.commerce(cm.mesh.keys.get("wallet-a")).confirmPaymentIntent({ paymentIntentId, paymentMethod: { case: "wallet", value: { providerId: "wallet-a", transferId } } });
        expect(paid.state).toBe(PaymentIntentState.SUCCEEDED);
      }
      await waitFor("four webhooks", () => merchant.received.length >= 4 || undefined, 5_000, 20);
      // In the order the changes committed: the merchant's slot passes from each webhook to the next.
      expect(merchant.received).toEqual(paymentIntentIds.flatMap((id) => [`${id} payment_intent.processing`, `${id} payment_intent.succeeded`]));
      expect(merchant.connections).toHaveLength(1);
    } finally {
      await merchant.close();
    }
  });
});

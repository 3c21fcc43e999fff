// A second key source (ServerOptions.extraKeyLookup): signers outside the directory, such as the
// e-commerce connector's merchants, verify against it; directory participants never do.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearingService } from "@clearmesh/contracts";
import { createSigningKey, generateSeed, type KeyRecord } from "@clearmesh/trust";
import { createSignedClient } from "../src/client.js";
import { errorReason } from "../src/errors.js";
import { GrpcCode, rejectionOf, startHarness, type Harness } from "./fixtures.js";

const merchant = createSigningKey("shop-one", "shop-one-1", generateSeed());
/** A key the extra source offers for a directory participant: it must be ignored. */
const impostor = createSigningKey("bank-a", "bank-a-9", generateSeed());
const extraKeys = new Map<string, KeyRecord>([
  ["shop-one/shop-one-1", { publicKey: merchant.publicKey, status: "active" }],
  ["bank-a/bank-a-9", { publicKey: impostor.publicKey, status: "active" }],
]);

let harness: Harness;
const lookups: string[] = [];

beforeAll(async () => {
  harness = await startHarness({
    extraKeyLookup: (participantId, keyId) => {
      lookups.push(participantId);
      return extraKeys.get(`${participantId}/${keyId}`);
    },
  });
});

afterAll(async () => {
  await harness?.close();
});

function clientSigningAs(signer: ReturnType<typeof createSigningKey>) {
  return createSignedClient(ClearingService, { address: harness.grpcAddress, signer, defaultDeadlineMs: 10_000 });
}

describe("extra key lookup", () => {
  it("verifies a signer the directory does not know against the extra source", async () => {
    const client = clientSigningAs(merchant);
    try {
      const transfer = await client.createTransfer({ transferId: "t-extra", payerId: "shop-one", payeeId: "bank-a", amount: { currency: "USD", amountMinor: 1n } });
      // The fake puts the verified caller in window_id.
      expect(transfer.windowId).toBe("shop-one");
    } finally {
      client.close();
    }
  });

  it("never consults it for a directory participant, so it cannot add a key to one", async () => {
    lookups.length = 0;
    const client = clientSigningAs(impostor);
    try {
      const error = (await rejectionOf(client.getParticipant({ participantId: "bank-a" }))) as { code: number };
      expect(error.code).toBe(GrpcCode.UNAUTHENTICATED);
      expect(errorReason(error)).toBe("UNKNOWN_KEY");
      expect(lookups).not.toContain("bank-a");
    } finally {
      client.close();
    }
  });

  it("still refuses unknown signers and keeps directory participants working", async () => {
    const stranger = clientSigningAs(createSigningKey("shop-two", "shop-two-1", generateSeed()));
    const bank = clientSigningAs(harness.keys.bank);
    try {
      const error = await rejectionOf(stranger.getParticipant({ participantId: "bank-a" }));
      expect(errorReason(error)).toBe("UNKNOWN_KEY");
      expect((await bank.getParticipant({ participantId: "bank-a" })).participantId).toBe("bank-a");
    } finally {
      stranger.close();
      bank.close();
    }
  });
});

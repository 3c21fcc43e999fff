// PROTOCOL.md §4: the directory in clearing is the source of truth; a key revoked there is
// refused by every service within 5 s.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BankAdapterService, ClearingService, CommerceService, NotifierService, WalletService } from "@clearmesh/contracts";
import fs from "node:fs";
import path from "node:path";
import { Code, errorReason, keyFilePath, loadHostedKeys, parseHostedKeyIds, type ServiceName } from "@clearmesh/runtime";
import { createSigningKey, generateSeed, toHex } from "@clearmesh/trust";
import { clientFor, startTestMesh, type TestMesh } from "../support/mesh.js";

const REVOCATION_DEADLINE_MS = 5_000;

/** One signed call per service; each is answered after verification (by its own business answer). */
const probes: Record<ServiceName, (mesh: TestMesh, signer: ReturnType<typeof createSigningKey>) => Promise<unknown>> = {
  clearing: (mesh, signer) => clientFor(mesh, "clearing", ClearingService, signer).getParticipant({ participantId: "bank-a" }),
  "bank-adapter": (mesh, signer) => clientFor(mesh, "bank-adapter", BankAdapterService, signer).getAccount({ accountId: "a-1" }),
  wallet: (mesh, signer) => clientFor(mesh, "wallet", WalletService, signer).getProviderBooks({ providerId: "wallet-a", currency: "USD" }),
  "e-commerce-connector": (mesh, signer) => clientFor(mesh, "e-commerce-connector", CommerceService, signer).getPaymentIntent({ paymentIntentId: "pi-1" }),
  notifier: (mesh, signer) => clientFor(mesh, "notifier", NotifierService, signer).getDelivery({ notificationId: "n-1" }),
};

/** The reasons a call gets when its signature is not accepted. */
const SIGNATURE_REASONS = ["SIGNATURE_MISSING", "UNKNOWN_KEY", "KEY_REVOKED", "STALE_TIMESTAMP", "REPLAYED_NONCE", "BAD_SIGNATURE"];
const verified = (result: string) => (SIGNATURE_REASONS.includes(result) ? result : "VERIFIED");

async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (error) {
    return errorReason(error) ?? `code ${(error as { code?: number }).code}`;
  }
}

describe("directory across the mesh", () => {
  let mesh: TestMesh;
  const seed = generateSeed();
  const secondKey = createSigningKey("bank-a", "bank-a-2", seed);

  beforeAll(async () => {
    mesh = await startTestMesh();
  }, 60_000);
  afterAll(async () => mesh?.stop());

  it("every service serves health and verifies a key added at clearing", async () => {
    await mesh.operator.addParticipantKey({ participantId: "bank-a", key: { keyId: secondKey.keyId, publicKey: secondKey.publicKey } });
    const deadline = Date.now() + REVOCATION_DEADLINE_MS;
    for (const service of Object.keys(probes) as ServiceName[]) {
      let result = await outcome(probes[service](mesh, secondKey));
      while (result === "UNKNOWN_KEY" && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        result = await outcome(probes[service](mesh, secondKey));
      }
      // The signature verified: each service answered with its own business answer.
      expect([service, verified(result)]).toEqual([service, "VERIFIED"]);
    }
  });

  it("a key revoked at clearing is refused by every service within 5 s", async () => {
    const revokedAt = Date.now();
    const revoked = await mesh.operator.revokeParticipantKey({ participantId: "bank-a", keyId: secondKey.keyId, reason: "test" });
    expect(revoked.keys.find((key) => key.keyId === secondKey.keyId)?.status).toBe(2);
    const refusedAfterMs: Record<string, number> = {};
    await Promise.all((Object.keys(probes) as ServiceName[]).map(async (service) => {
      while (Date.now() - revokedAt < REVOCATION_DEADLINE_MS) {
        if ((await outcome(probes[service](mesh, secondKey))) === "KEY_REVOKED") {
          refusedAfterMs[service] = Date.now() - revokedAt;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }));
    console.info(`revocation refused after (ms): ${JSON.stringify(refusedAfterMs)}`);
    expect(Object.keys(refusedAfterMs).sort()).toEqual(Object.keys(probes).sort());
    // The first key of bank-a still works everywhere.
    expect(verified(await outcome(probes.wallet(mesh, mesh.keys.get("bank-a")!)))).toBe("VERIFIED");
  });

  it("a valid signer acting for another participant gets PERMISSION_DENIED and nothing changes", async () => {
    const asBankB = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-b")!);
    const error = await asBankB.createTransfer({ transferId: "t-perm-1", payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 100n } }).catch((caught) => caught);
    expect(error.code).toBe(Code.PermissionDenied);
    expect(errorReason(error)).toBe("PERMISSION_DENIED");
    const lookup = await clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-a")!).getTransfer({ transferId: "t-perm-1" }).catch((caught) => caught);
    expect(errorReason(lookup)).toBe("TRANSFER_NOT_FOUND");
    const register = await asBankB.registerParticipant({ participantId: "rogue-1", name: "x", kind: 1, currencies: ["USD"], keys: [{ keyId: "k", publicKey: secondKey.publicKey }] }).catch((caught) => caught);
    expect(errorReason(register)).toBe("PERMISSION_DENIED");
  });

  it("a hosted participant's key rotates: the new key file loads under HOSTED_KEY_IDS and signs once the old key is revoked", async () => {
    const keysDir = path.join(mesh.dataDir, "keys");
    const oldKey = mesh.keys.get("bank-b")!;
    const rotated = createSigningKey("bank-b", "bank-b-2", generateSeed());
    await mesh.operator.addParticipantKey({ participantId: "bank-b", key: { keyId: rotated.keyId, publicKey: rotated.publicKey } });
    // As docs/deployment.md says: replace the key file, name its key id, restart, revoke the old key.
    fs.writeFileSync(keyFilePath(keysDir, "bank-b"), `${toHex(rotated.seed)}\n`, { mode: 0o600 });
    const hosted = loadHostedKeys(keysDir, ["bank-a", "bank-b"], parseHostedKeyIds("bank-b:bank-b-2"));
    expect([hosted.get("bank-a")!.keyId, hosted.get("bank-b")!.keyId]).toEqual(["bank-a-1", "bank-b-2"]);
    expect(toHex(hosted.get("bank-b")!.publicKey)).toBe(toHex(rotated.publicKey));
    await mesh.operator.revokeParticipantKey({ participantId: "bank-b", keyId: oldKey.keyId, reason: "rotated" });

    const transfer = { payerId: "bank-b", payeeId: "bank-a", amount: { currency: "USD", amountMinor: 100n } };
    const withOld = await clientFor(mesh, "clearing", ClearingService, oldKey).createTransfer({ ...transfer, transferId: "t-rotate-old" }).catch((caught) => caught);
    expect(errorReason(withOld)).toBe("KEY_REVOKED");
    // Accepted as bank-b's signature: clearing answers with its own business decision (bank-b has no cap here).
    const withNew = await clientFor(mesh, "clearing", ClearingService, hosted.get("bank-b")!).createTransfer({ ...transfer, transferId: "t-rotate-new" }).catch((caught) => caught);
    expect(errorReason(withNew)).toBe("LIQUIDITY_LIMIT_EXCEEDED");
  });
});

// RegisterMerchant: operator-signed, idempotent on merchant_id. A merchant's id must not be a
// directory participant (its signature would be ambiguous), and its acquirer must be hosted here
// and an active merchant acquirer in the directory.
import { ParticipantKind, ParticipantStatus, type Merchant, type RegisterMerchantRequest } from "@clearmesh/contracts";
import type { Directory } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { SERVICE_NAMES } from "@clearmesh/runtime";
import { usableEd25519PublicKey } from "@clearmesh/trust";
import { CommerceFailure, invalidField } from "../errors.js";
import { KEY_ID_PATTERN, MAX_NAME_CHARS, PUBLIC_KEY_BYTES, requireParticipantId, requireText, requireWebhookUrl } from "../validation.js";
import { findMerchant, insertMerchant, merchantMessage, type MerchantRecord, type MerchantRegistry } from "./registry.js";

/** Ids that name the scheme's own identities even before the directory lists them. */
const RESERVED_IDS: ReadonlySet<string> = new Set(["operator", "clearing", ...SERVICE_NAMES]);

export interface MerchantServiceDeps {
  store: Store;
  registry: MerchantRegistry;
  directory: Directory;
  hostedAcquirers: ReadonlySet<string>;
  now: () => number;
}

export type MerchantService = ReturnType<typeof createMerchantService>;

export function createMerchantService(deps: MerchantServiceDeps) {
  return {
    async register(request: RegisterMerchantRequest): Promise<Merchant> {
      const wanted = validRegistration(request, deps.now());
      const existing = await findMerchant(deps.store, wanted.merchantId);
      if (existing) return answerRepeat(existing, wanted);
      checkIdFree(deps.directory, wanted.merchantId);
      checkAcquirer(deps, wanted.acquirerId);
      if (!(await insertMerchant(deps.store, wanted))) {
        // Another call registered the same id between our read and our insert.
        return answerRepeat((await findMerchant(deps.store, wanted.merchantId))!, wanted);
      }
      deps.registry.remember(wanted);
      return merchantMessage(wanted);
    },
  };

  function answerRepeat(existing: MerchantRecord, wanted: MerchantRecord): Merchant {
    const field = differingField(existing, wanted);
    if (field) throw new CommerceFailure("IDEMPOTENCY_CONFLICT", `merchant ${wanted.merchantId} was registered with a different ${field}`, { field });
    deps.registry.remember(existing);
    return merchantMessage(existing);
  }
}

function validRegistration(request: RegisterMerchantRequest, nowMs: number): MerchantRecord {
  requireParticipantId("merchant_id", request.merchantId);
  requireText("name", request.name, MAX_NAME_CHARS, true);
  requireWebhookUrl(request.webhookUrl);
  if (!KEY_ID_PATTERN.test(request.keyId)) throw invalidField("key_id", "must be 1-64 characters of [A-Za-z0-9._-]");
  if (!usableEd25519PublicKey(request.publicKey)) {
    // A key of small order or with y ≥ p would never verify (packages/trust/src/points.ts).
    throw invalidField("public_key", `must be ${PUBLIC_KEY_BYTES} bytes (an Ed25519 public key), canonically encoded and not of small order`);
  }
  requireParticipantId("acquirer_id", request.acquirerId);
  return {
    merchantId: request.merchantId, name: request.name, webhookUrl: request.webhookUrl, keyId: request.keyId,
    publicKey: request.publicKey, acquirerId: request.acquirerId, createdAtMs: nowMs,
  };
}

function differingField(existing: MerchantRecord, wanted: MerchantRecord): string | undefined {
  if (existing.name !== wanted.name) return "name";
  if (existing.webhookUrl !== wanted.webhookUrl) return "webhook_url";
  if (existing.keyId !== wanted.keyId) return "key_id";
  if (Buffer.compare(Buffer.from(existing.publicKey), Buffer.from(wanted.publicKey)) !== 0) return "public_key";
  if (existing.acquirerId !== wanted.acquirerId) return "acquirer_id";
  return undefined;
}

function checkIdFree(directory: Directory, merchantId: string): void {
  if (RESERVED_IDS.has(merchantId) || directory.has(merchantId)) {
    throw new CommerceFailure("MERCHANT_ID_TAKEN", `${merchantId} is a scheme participant's id; merchants need an id of their own`, { field: "merchant_id" });
  }
}

function checkAcquirer(deps: MerchantServiceDeps, acquirerId: string): void {
  const participant = deps.directory.get(acquirerId);
  if (!deps.hostedAcquirers.has(acquirerId)) {
    throw new CommerceFailure("ACQUIRER_NOT_HOSTED", `${acquirerId} is not an acquirer hosted by this connector`, { field: "acquirer_id" });
  }
  if (!participant) throw new CommerceFailure("UNKNOWN_PARTICIPANT", `no participant ${acquirerId} in the directory`, { field: "acquirer_id" });
  if (participant.kind !== ParticipantKind.MERCHANT_ACQUIRER) {
    throw new CommerceFailure("ACQUIRER_NOT_HOSTED", `${acquirerId} is not a merchant acquirer`, { field: "acquirer_id" });
  }
  if (participant.status !== ParticipantStatus.ACTIVE) throw new CommerceFailure("PARTICIPANT_INACTIVE", `${acquirerId} is suspended`, { field: "acquirer_id" });
}

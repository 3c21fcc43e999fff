// Who signed a call, in the connector's terms. Merchant ids never collide with directory
// participants (RegisterMerchant refuses them, and the key lookup ignores merchants whose id
// later appears in the directory), so the verified signer id decides.
import { ParticipantKind } from "@clearmesh/contracts";
import type { Caller, Directory } from "@clearmesh/runtime";
import { CommerceFailure } from "./errors.js";
import type { MerchantRecord, MerchantRegistry } from "./merchants/registry.js";

export type CommerceCaller =
  | { kind: "merchant"; merchant: MerchantRecord }
  | { kind: "operator" }
  | { kind: "participant"; participantId: string; participantKind: ParticipantKind };

export function identify(caller: Caller, directory: Directory, registry: MerchantRegistry): CommerceCaller {
  if (caller.participantId === "operator") return { kind: "operator" };
  const merchant = registry.get(caller.participantId);
  if (merchant) return { kind: "merchant", merchant };
  const participant = directory.get(caller.participantId);
  return { kind: "participant", participantId: caller.participantId, participantKind: participant?.kind ?? ParticipantKind.UNSPECIFIED };
}

export function requireMerchant(caller: CommerceCaller, what: string): MerchantRecord {
  if (caller.kind !== "merchant") throw new CommerceFailure("PERMISSION_DENIED", `only a merchant may ${what}`);
  return caller.merchant;
}

/** The merchant a merchant-or-operator call is about: the signer itself, or any for the operator. */
export function merchantScope(caller: CommerceCaller, requestedMerchantId: string, what: string): string | undefined {
  if (caller.kind === "operator") return requestedMerchantId === "" ? undefined : requestedMerchantId;
  const merchant = requireMerchant(caller, what);
  if (requestedMerchantId !== "" && requestedMerchantId !== merchant.merchantId) {
    throw new CommerceFailure("PERMISSION_DENIED", `${merchant.merchantId} may not ${what} of ${requestedMerchantId}`, { field: "merchant_id" });
  }
  return merchant.merchantId;
}

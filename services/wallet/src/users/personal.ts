// Personal data at rest. Each user has a data key of their own; e-mail, phone, display name and
// TOTP secret are sealed with it (NaCl secretbox, packages/trust seal), and the user key itself is
// sealed with the service's DATA_KEYS in its own row, so deleting that row destroys the personal
// data for good (crypto-shredding) while the ledger keeps its rows.
//
// Lookups by alias use a keyed hash instead: HMAC-SHA256 of the normalised alias under a key
// derived from a DATA_KEYS key, stored as `<data key id>.<hex>`, so a guessed address cannot be
// tested against the table without the data keys. Lookups try every key of the ring (rotation).
import { createHmac, randomBytes } from "node:crypto";
import { seal, unseal, unsealText, type DataKeyRing } from "@clearmesh/trust";
import type { AliasKind } from "../validation.js";

const USER_KEY_BYTES = 32;
const USER_KEY_ID = "u1";
const ALIAS_HASH_CONTEXT = "clearmesh-wallet-alias-v1";

export interface UserKey {
  ring: DataKeyRing;
}

export function newUserKey(): Uint8Array {
  return new Uint8Array(randomBytes(USER_KEY_BYTES));
}

export function userRing(key: Uint8Array): DataKeyRing {
  return { activeKeyId: USER_KEY_ID, keys: new Map([[USER_KEY_ID, key]]) };
}

/** The user key sealed with the service's data keys, for the user_keys row. */
export function sealUserKey(dataKeys: DataKeyRing, key: Uint8Array): string {
  return seal(dataKeys, key);
}

export function openUserKey(dataKeys: DataKeyRing, sealed: string): DataKeyRing {
  return userRing(unseal(dataKeys, sealed));
}

export function sealPersonal(userKey: DataKeyRing, value: string): string {
  return seal(userKey, value);
}

export function openPersonal(userKey: DataKeyRing, sealed: string): string {
  return unsealText(userKey, sealed);
}

function aliasHashWith(keyId: string, dataKey: Uint8Array, kind: AliasKind, alias: string): string {
  const derived = createHmac("sha256", dataKey).update(ALIAS_HASH_CONTEXT).digest();
  return `${keyId}.${createHmac("sha256", derived).update(`${kind}:${alias}`).digest("hex")}`;
}

/** The alias's keyed hash under the active data key (what is stored). */
export function aliasHash(dataKeys: DataKeyRing, kind: AliasKind, alias: string): string {
  return aliasHashWith(dataKeys.activeKeyId, dataKeys.keys.get(dataKeys.activeKeyId)!, kind, alias);
}

/** The alias's keyed hash under every data key (what lookups match, across rotations). */
export function aliasHashes(dataKeys: DataKeyRing, kind: AliasKind, alias: string): string[] {
  return [...dataKeys.keys].map(([keyId, key]) => aliasHashWith(keyId, key, kind, alias));
}

/** A keyed digest of any text (idempotency fingerprints that name a payee without storing it). */
export function keyedDigest(dataKeys: DataKeyRing, text: string): string {
  return aliasHashWith(dataKeys.activeKeyId, dataKeys.keys.get(dataKeys.activeKeyId)!, "email", `digest:${text}`);
}

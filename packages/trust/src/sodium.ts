// libsodium through the sodium-native addon: Ed25519 signing (about 15 µs a signature here
// against about 32 µs for node:crypto, with byte-identical results, since Ed25519 signatures are
// deterministic, RFC 8032) and verification in place (about 40 against 90 µs; points.ts makes
// its verdicts and node:crypto's the same). Without the addon (a platform it has no build for,
// or CLEARMESH_ED25519=node-crypto) both use node:crypto. The verifier thread
// (verifier-thread.worker.mjs) runs libsodium only, so without it verification that would go there
// goes to libuv's thread pool, which always uses node:crypto (it has the asynchronous form).

interface SodiumSigning {
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** The addon's name in a variable: loaded from node_modules at run time, never bundled. */
const ADDON = "sodium-native";

async function load(): Promise<SodiumSigning | undefined> {
  if (process.env.CLEARMESH_ED25519 === "node-crypto") return undefined;
  try {
    const loaded = (await import(ADDON)) as { default?: SodiumSigning } & SodiumSigning;
    return loaded.default ?? loaded;
  } catch {
    return undefined;
  }
}

export const sodium: SodiumSigning | undefined = await load();

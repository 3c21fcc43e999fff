// libsodium through the sodium-native addon, for Ed25519 signing only: about 15 µs a signature
// here against about 32 µs for node:crypto (OpenSSL), with byte-identical results, since Ed25519
// signatures are deterministic (RFC 8032). Verification stays on node:crypto, whose verdicts the
// tests pin on every input. Without the addon (a platform it has no build for, or
// CLEARMESH_ED25519=node-crypto) signing uses node:crypto.

interface SodiumSigning {
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
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

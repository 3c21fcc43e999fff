// Key files (issue: Launch): `<data>/keys/<participant-id>.key` holds the Ed25519 seed as 64 hex
// characters (mode 0600) and `<participant-id>.pub` the public key in hex. A corrupt or missing
// file stops the service with a message naming the file.
import fs from "node:fs";
import path from "node:path";
import { createSigningKey, generateSeed, parseSeedHex, publicKeyFromSeed, toHex, type SigningKey } from "@clearmesh/trust";

export class KeyFileError extends Error {
  constructor(readonly file: string, problem: string) {
    super(`key file ${file}: ${problem}`);
    this.name = "KeyFileError";
  }
}

export function keyFilePath(keysDir: string, participantId: string): string {
  return path.join(keysDir, `${participantId}.key`);
}

/** Reads a seed file and returns the signing key; throws KeyFileError naming the file. */
export function loadSigningKey(file: string, participantId: string, keyId: string): SigningKey {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeyFileError(file, code === "ENOENT" ? "missing (run `npm start` once, or `clearmesh keys generate`)" : `unreadable (${code})`);
  }
  try {
    return createSigningKey(participantId, keyId, parseSeedHex(text, file));
  } catch {
    throw new KeyFileError(file, "corrupt: expected exactly 64 hex characters (a 32-byte Ed25519 seed)");
  }
}

/** Creates `<id>.key` (0600) and `<id>.pub` unless the key file exists; returns the key either way. */
export function ensureKeyFiles(keysDir: string, participantId: string, keyId = `${participantId}-1`): SigningKey {
  const file = keyFilePath(keysDir, participantId);
  if (!fs.existsSync(file)) writeKeyFiles(keysDir, participantId, generateSeed());
  return loadSigningKey(file, participantId, keyId);
}

export function writeKeyFiles(keysDir: string, participantId: string, seed: Uint8Array): { keyFile: string; publicKeyFile: string } {
  fs.mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const keyFile = keyFilePath(keysDir, participantId);
  const publicKeyFile = path.join(keysDir, `${participantId}.pub`);
  fs.writeFileSync(keyFile, `${toHex(seed)}\n`, { mode: 0o600, flag: "wx" });
  fs.writeFileSync(publicKeyFile, `${toHex(publicKeyFromSeed(seed))}\n`, { mode: 0o644 });
  return { keyFile, publicKeyFile };
}

/**
 * Loads `<id>.key` of every hosted participant as key `keyIds.get(id)`, else `<id>-1` (its first
 * key); a missing or corrupt file, or a key id for a participant not hosted, stops the start.
 */
export function loadHostedKeys(keysDir: string, participantIds: readonly string[], keyIds: ReadonlyMap<string, string> = new Map()): Map<string, SigningKey> {
  for (const participantId of keyIds.keys()) {
    if (!participantIds.includes(participantId)) throw new Error(`HOSTED_KEY_IDS names ${participantId}, which HOSTED_PARTICIPANTS does not host`);
  }
  return new Map(participantIds.map((participantId) => [
    participantId, loadSigningKey(keyFilePath(keysDir, participantId), participantId, keyIds.get(participantId) ?? `${participantId}-1`),
  ]));
}

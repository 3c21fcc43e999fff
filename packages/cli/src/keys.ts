// Key files under `<data>/keys/`: `<id>.key` (the Ed25519 seed, 64 hex, mode 0600) and
// `<id>.pub` (the public key, hex). The first key of a participant has key id `<id>-1`.
// Nothing here ever prints or returns a seed.
import fs from "node:fs";
import path from "node:path";
import { KeyFileError, keyFilePath, loadSigningKey, writeKeyFiles } from "@clearmesh/runtime";
import { KEY_ID_PATTERN, PARTICIPANT_ID_PATTERN, generateSeed, type SigningKey } from "@clearmesh/trust";
import { CliError, UsageError } from "./errors.js";

const PUBLIC_KEY_HEX_PATTERN = /^[0-9a-fA-F]{64}$/;

/** `--data-dir`, else `$CLEARMESH_DATA_DIR`, else `./data`; always absolute. */
export function resolveDataDir(option: string | undefined, environment: Record<string, string | undefined> = process.env): string {
  return path.resolve(option || environment.CLEARMESH_DATA_DIR || "./data");
}

export function keysDir(dataDir: string): string {
  return path.join(dataDir, "keys");
}

export function publicKeyFilePath(dataDir: string, participantId: string): string {
  return path.join(keysDir(dataDir), `${participantId}.pub`);
}

export function defaultKeyId(participantId: string): string {
  return `${participantId}-1`;
}

export function requireParticipantId(value: string, what = "participant id"): string {
  if (!PARTICIPANT_ID_PATTERN.test(value)) {
    throw new UsageError(`${what} "${value}" is not valid: use 3 to 32 characters of [a-z0-9-], starting with a letter or digit`);
  }
  return value;
}

export function requireKeyId(value: string): string {
  if (!KEY_ID_PATTERN.test(value)) throw new UsageError(`key id "${value}" is not valid: use 1 to 64 characters of [A-Za-z0-9._-]`);
  return value;
}

export interface GeneratedKey {
  participantId: string;
  keyId: string;
  keyFile: string;
  publicKeyFile: string;
  publicKeyHex: string;
}

/** Writes a new key pair; refuses to replace an existing key file unless `force`. */
export function generateKey(dataDir: string, participantId: string, options: { force?: boolean } = {}): GeneratedKey {
  requireParticipantId(participantId);
  const dir = keysDir(dataDir);
  const keyFile = keyFilePath(dir, participantId);
  const publicKeyFile = publicKeyFilePath(dataDir, participantId);
  if (fs.existsSync(keyFile)) {
    if (!options.force) {
      throw new CliError(`${keyFile} exists; not replacing it (pass --force to replace the key: the old one is lost and must be revoked in clearing)`);
    }
    fs.rmSync(keyFile);
    fs.rmSync(publicKeyFile, { force: true });
  }
  const seed = generateSeed();
  const written = writeKeyFiles(dir, participantId, seed);
  seed.fill(0);
  return {
    participantId,
    keyId: defaultKeyId(participantId),
    keyFile: written.keyFile,
    publicKeyFile: written.publicKeyFile,
    publicKeyHex: fs.readFileSync(written.publicKeyFile, "utf8").trim(),
  };
}

/** The signing key of `participantId` from `<data>/keys/<id>.key`, with key id `<id>-1` unless given. */
export function loadSigner(dataDir: string, participantId: string, keyId?: string): SigningKey {
  requireParticipantId(participantId);
  try {
    return loadSigningKey(keyFilePath(keysDir(dataDir), participantId), participantId, requireKeyId(keyId ?? defaultKeyId(participantId)));
  } catch (error) {
    if (error instanceof KeyFileError) throw new CliError(error.message);
    throw error;
  }
}

export function parsePublicKeyHex(text: string, label: string): Uint8Array {
  const trimmed = text.trim();
  if (!PUBLIC_KEY_HEX_PATTERN.test(trimmed)) throw new CliError(`${label}: expected an Ed25519 public key of exactly 64 hex characters`);
  return new Uint8Array(Buffer.from(trimmed, "hex"));
}

/** Reads `<data>/keys/<id>.pub`; a missing file is an error that says how to get one. */
export function readPublicKey(dataDir: string, participantId: string, hint: string): Uint8Array {
  const file = publicKeyFilePath(dataDir, participantId);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === "ENOENT" ? `public key file ${file} is missing (${hint})` : `public key file ${file} is unreadable (${code})`);
  }
  return parsePublicKeyHex(text, `public key file ${file}`);
}

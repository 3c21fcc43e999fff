// The compose deployment's one-shot `register` job: signs RegisterParticipant as the operator for
// every participant in deploy/participants.txt, with the public keys deploy/make-secrets.sh
// wrote, and checks each answer is signed by clearing. It waits for an active clearing (through
// the edge proxy) and is idempotent: registering the same participant again changes nothing.
//
//   node --import tsx deploy/register-participants.ts
//
// Environment: CLEARING_ADDRESS (host:port), OPERATOR_PUBLIC_KEY and CLEARING_PUBLIC_KEY
// (`key-id:hex`, the trust anchors every service gets), OPERATOR_KEY_FILE (default
// /run/secrets/operator.key), PUBLIC_KEYS_DIR (default /etc/clearmesh/public: `<id>.pub` files),
// REGISTER_TIMEOUT_MS (default 300000), and TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE when
// clearing serves TLS.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ClearingService } from "@clearmesh/contracts";
import { PARTICIPANT_KINDS, parsePublicKeyHex } from "@clearmesh/cli";
import { createSignedClient, loadSigningKey, publicKeySetting, type ClientTls } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";
import { readParticipants, type DeployParticipant } from "./participants.js";

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const CALL_DEADLINE_MS = 10_000;

export interface RegisterOptions {
  clearingAddress: string;
  operatorKey: SigningKey;
  clearingPublicKey: { keyId: string; publicKey: Uint8Array };
  participants: readonly DeployParticipant[];
  /** The public key of a participant, hex (from `<PUBLIC_KEYS_DIR>/<id>.pub`). */
  publicKeyHex(participantId: string): string;
  tls?: ClientTls;
  /** How long to keep retrying while clearing is unreachable or on standby. */
  timeoutMs: number;
  retryMs?: number;
  print?: (line: string) => void;
}

/** Registers every participant; retries only while clearing is away (UNAVAILABLE, DEADLINE_EXCEEDED). */
export async function registerParticipants(options: RegisterOptions): Promise<string[]> {
  const print = options.print ?? (() => undefined);
  const anchor = options.clearingPublicKey;
  const client = createSignedClient(ClearingService, {
    address: options.clearingAddress,
    signer: options.operatorKey,
    expectedResponder: "clearing",
    responseKeys: (participantId, keyId) => (participantId === "clearing" && keyId === anchor.keyId ? anchor.publicKey : undefined),
    defaultDeadlineMs: CALL_DEADLINE_MS,
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const deadline = Date.now() + options.timeoutMs;
  const registered: string[] = [];
  try {
    for (const participant of options.participants) {
      const publicKey = parsePublicKeyHex(options.publicKeyHex(participant.participantId), `${participant.participantId}.pub`);
      const request = {
        participantId: participant.participantId, name: participant.name, kind: PARTICIPANT_KINDS[participant.kind],
        currencies: participant.currencies, keys: [{ keyId: `${participant.participantId}-1`, publicKey }],
      };
      for (;;) {
        try {
          await client.registerParticipant(request);
          break;
        } catch (error) {
          const code = (error as { code?: number }).code;
          const retryable = code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED;
          if (!retryable || Date.now() >= deadline) throw error;
          print(`clearing at ${options.clearingAddress} is not answering as the active instance yet (${(error as Error).message}); retrying`);
          await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 2_000));
        }
      }
      registered.push(participant.participantId);
      print(`registered ${participant.participantId} (${participant.kind})`);
    }
  } finally {
    client.close();
  }
  return registered;
}

function required(environment: Record<string, string | undefined>, name: string): string {
  const value = environment[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

/** Reads the job's environment (see the header) into RegisterOptions. */
export function registerOptionsFromEnvironment(environment: Record<string, string | undefined>): RegisterOptions {
  const anchor = (name: string, defaultKeyId: string) => publicKeySetting(name, name, defaultKeyId).parse(required(environment, name));
  const operator = anchor("OPERATOR_PUBLIC_KEY", "operator-1");
  const operatorKey = loadSigningKey(environment.OPERATOR_KEY_FILE || "/run/secrets/operator.key", "operator", operator.keyId);
  if (Buffer.compare(Buffer.from(operatorKey.publicKey), Buffer.from(operator.publicKey)) !== 0) {
    throw new Error("OPERATOR_KEY_FILE does not match OPERATOR_PUBLIC_KEY");
  }
  const publicKeysDir = environment.PUBLIC_KEYS_DIR || "/etc/clearmesh/public";
  const read = (name: string | undefined) => (name ? fs.readFileSync(name) : undefined);
  const tls: ClientTls | undefined = environment.TLS_CA_FILE
    ? { caPem: read(environment.TLS_CA_FILE), certPem: read(environment.TLS_CERT_FILE), keyPem: read(environment.TLS_KEY_FILE) }
    : undefined;
  return {
    clearingAddress: required(environment, "CLEARING_ADDRESS"),
    operatorKey,
    clearingPublicKey: anchor("CLEARING_PUBLIC_KEY", "clearing-1"),
    participants: readParticipants(),
    publicKeyHex: (participantId) => fs.readFileSync(path.join(publicKeysDir, `${participantId}.pub`), "utf8").trim(),
    ...(tls ? { tls } : {}),
    timeoutMs: Number(environment.REGISTER_TIMEOUT_MS || 300_000),
    print: (line) => process.stdout.write(`${line}\n`),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    const registered = await registerParticipants(registerOptionsFromEnvironment(process.env));
    process.stdout.write(`registered ${registered.length} participants at clearing\n`);
  } catch (error) {
    process.stderr.write(`register: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

// `clearmesh participant add|show`: operator-signed RegisterParticipant and signed
// GetParticipant against clearing, with clearing's response signature verified.
import { ClearingService, ParticipantKind, ParticipantSchema, type Participant } from "@clearmesh/contracts";
import { createSignedClient } from "@clearmesh/runtime";
import { clientTls, DEFAULT_TIMEOUT_MS, type ConnectionOptions } from "./call.js";
import { UsageError } from "./errors.js";
import { defaultKeyId, loadSigner, parsePublicKeyHex, readPublicKey, requireKeyId, requireParticipantId } from "./keys.js";
import { messageToJsonText } from "./procedures.js";

export const DEFAULT_CLEARING_ADDRESS = "127.0.0.1:50051";
export const OPERATOR = "operator";
export const CLEARING = "clearing";

export const PARTICIPANT_KINDS = {
  bank: ParticipantKind.BANK,
  "wallet-provider": ParticipantKind.WALLET_PROVIDER,
  "merchant-acquirer": ParticipantKind.MERCHANT_ACQUIRER,
  "fx-provider": ParticipantKind.FX_PROVIDER,
  service: ParticipantKind.SERVICE,
} as const;

export type ParticipantKindName = keyof typeof PARTICIPANT_KINDS;

export interface ClearingConnection extends ConnectionOptions {
  dataDir: string;
  /** host:port of clearing's gRPC port. */
  clearing: string;
  /** Check clearing's response signature with `<data>/keys/clearing.pub` (default true). */
  verifyResponse?: boolean;
}

export interface AddParticipantOptions extends ClearingConnection {
  name: string;
  kind: string;
  currencies: readonly string[];
  /** The public key to register; default `<data>/keys/<id>.pub`. */
  publicKeyHex?: string;
  /** Key id to register; default `<id>-1`. */
  keyId?: string;
  /** The operator's key id; default `operator-1`. */
  operatorKeyId?: string;
}

export interface ShowParticipantOptions extends ClearingConnection {
  /** The signer; default the operator. */
  as?: string;
  keyId?: string;
}

function parseKind(kind: string): ParticipantKind {
  if (!Object.hasOwn(PARTICIPANT_KINDS, kind)) throw new UsageError(`--kind must be one of ${Object.keys(PARTICIPANT_KINDS).join(", ")}`);
  return PARTICIPANT_KINDS[kind as ParticipantKindName];
}

function parseCurrencies(currencies: readonly string[]): string[] {
  for (const currency of currencies) {
    if (!/^[A-Z]{3}$/.test(currency)) throw new UsageError(`--currency ${currency}: expected an ISO 4217 alpha-3 code such as USD`);
  }
  return [...currencies];
}

function clearingClient(options: ClearingConnection, signer: ReturnType<typeof loadSigner>) {
  const tls = clientTls(options.tlsCa);
  const clearingKey = options.verifyResponse === false
    ? undefined
    : readPublicKey(options.dataDir, CLEARING, "copy clearing's public key there, or pass --no-verify-response");
  return createSignedClient(ClearingService, {
    address: options.clearing,
    signer,
    defaultDeadlineMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(tls ? { tls } : {}),
    ...(clearingKey ? { responseKeys: (participantId: string) => (participantId === CLEARING ? clearingKey : undefined), expectedResponder: CLEARING } : {}),
  });
}

export async function addParticipant(participantId: string, options: AddParticipantOptions): Promise<Participant> {
  requireParticipantId(participantId);
  const kind = parseKind(options.kind);
  const currencies = parseCurrencies(options.currencies);
  const keyId = requireKeyId(options.keyId ?? defaultKeyId(participantId));
  const publicKey = options.publicKeyHex === undefined
    ? readPublicKey(options.dataDir, participantId, `run \`clearmesh keys generate ${participantId}\` or pass --public-key-hex`)
    : parsePublicKeyHex(options.publicKeyHex, "--public-key-hex");
  const operator = loadSigner(options.dataDir, OPERATOR, options.operatorKeyId ?? defaultKeyId(OPERATOR));
  const client = clearingClient(options, operator);
  try {
    return await client.registerParticipant({ participantId, name: options.name, kind, currencies, keys: [{ keyId, publicKey }] });
  } finally {
    client.close();
  }
}

export async function showParticipant(participantId: string, options: ShowParticipantOptions): Promise<Participant> {
  requireParticipantId(participantId);
  const signerId = options.as ?? OPERATOR;
  const signer = loadSigner(options.dataDir, signerId, options.keyId);
  const client = clearingClient(options, signer);
  try {
    return await client.getParticipant({ participantId });
  } finally {
    client.close();
  }
}

export function participantJson(participant: Participant): string {
  return messageToJsonText(ParticipantSchema, participant);
}

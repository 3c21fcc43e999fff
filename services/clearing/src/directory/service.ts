// The participant directory (PROTOCOL.md §4): the source of truth every service copies.
// Changes are rare, so they are serialized and each commits with its participant.updated event.
import { create } from "@bufbuild/protobuf";
import {
  KeyStatus, ParticipantKind, ParticipantSchema, ParticipantStatus, ParticipantUpdatedSchema,
  type AddParticipantKeyRequest, type Participant, type RegisterParticipantRequest, type RevokeParticipantKeyRequest, type SetParticipantStatusRequest,
} from "@clearmesh/contracts";
import type { Directory, Logger } from "@clearmesh/runtime";
import type { Store, Transaction } from "@clearmesh/store";
import { usableEd25519PublicKey } from "@clearmesh/trust";
import { clearingError, invalidField } from "../errors.js";
import { SUBJECTS, type EventWriter } from "../events.js";
import { KEY_ID_PATTERN, requireCurrency, requireParticipantId, requireText } from "../validation.js";
import { insertKey, insertParticipant, loadParticipants, revokeKey, setStatus, touchParticipant } from "./repository.js";

/** Every signature under a key of small order or with y ≥ p would be refused (packages/trust/src/points.ts). */
const PUBLIC_KEY_RULE = "must be a 32-byte Ed25519 public key, canonically encoded and not of small order";

const MAX_KEYS = 16;
const MAX_CURRENCIES = 32;

export interface DirectoryServiceDeps {
  store: Store;
  directory: Directory;
  writeEvent: EventWriter;
  notifyOutbox: () => void;
  now: () => number;
  logger: Logger;
}

export interface SeedParticipant {
  participantId: string;
  name: string;
  kind: ParticipantKind;
  keyId: string;
  publicKey: Uint8Array;
}

export type DirectoryService = ReturnType<typeof createDirectoryService>;

export function createDirectoryService(deps: DirectoryServiceDeps) {
  let queue: Promise<unknown> = Promise.resolve();
  /** Directory changes run one at a time: they read, decide and write under one view. */
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  };

  /** Commits a change with its event, then updates the in-memory copy and wakes the relay. */
  const change = async (participantId: string, work: (tx: Transaction) => Promise<void>): Promise<Participant> => {
    const updated = await deps.store.transaction(async (tx) => {
      await work(tx);
      const [participant] = await loadParticipants(tx, { participantId });
      await deps.writeEvent(tx, SUBJECTS.participantUpdated, ParticipantUpdatedSchema, { participant });
      return participant!;
    });
    deps.directory.apply(updated);
    deps.notifyOutbox();
    return updated;
  };

  const current = async (participantId: string) => (await loadParticipants(deps.store, { participantId }))[0];

  return {
    /** Loads the directory from the store into memory (a standby does this too). */
    async load(): Promise<void> {
      for (const participant of await loadParticipants(deps.store)) deps.directory.apply(participant);
    },

    /** Makes sure the operator and clearing exist, then loads the directory (the active instance). */
    async start(seeds: readonly SeedParticipant[]): Promise<void> {
      for (const seed of seeds) {
        if (await current(seed.participantId)) continue;
        const participant = create(ParticipantSchema, {
          participantId: seed.participantId, name: seed.name, kind: seed.kind, status: ParticipantStatus.ACTIVE, version: 1n,
          keys: [{ keyId: seed.keyId, publicKey: seed.publicKey, status: KeyStatus.ACTIVE }],
        });
        await change(seed.participantId, (tx) => insertParticipant(tx, participant, deps.now()));
        deps.logger.info({ participantId: seed.participantId }, "seeded participant");
      }
      for (const participant of await loadParticipants(deps.store)) deps.directory.apply(participant);
    },

    register: (request: RegisterParticipantRequest) => serialized(async () => {
      const wanted = validateRegistration(request);
      const existing = await current(wanted.participantId);
      if (existing) return sameRegistration(existing, wanted);
      return change(wanted.participantId, (tx) => insertParticipant(tx, wanted, deps.now()));
    }),

    addKey: (request: AddParticipantKeyRequest) => serialized(async () => {
      requireParticipantId("participant_id", request.participantId);
      const key = request.key;
      if (!key || !KEY_ID_PATTERN.test(key.keyId)) throw invalidField("key.key_id", "must be 1-64 characters of [A-Za-z0-9._-]");
      if (!usableEd25519PublicKey(key.publicKey)) throw invalidField("key.public_key", PUBLIC_KEY_RULE);
      const existing = await requireParticipant(request.participantId);
      const held = existing.keys.find((entry) => entry.keyId === key.keyId);
      if (held) {
        if (Buffer.compare(Buffer.from(held.publicKey), Buffer.from(key.publicKey)) !== 0) {
          throw clearingError("IDEMPOTENCY_CONFLICT", `key ${key.keyId} already exists with another public key`, { field: "key.public_key" });
        }
        return existing;
      }
      if (existing.keys.length >= MAX_KEYS) throw clearingError("INVALID_ARGUMENT", `a participant holds at most ${MAX_KEYS} keys`, { field: "key" });
      return change(request.participantId, async (tx) => {
        await insertKey(tx, request.participantId, key.keyId, key.publicKey, deps.now());
        await touchParticipant(tx, request.participantId, deps.now());
      });
    }),

    revokeKey: (request: RevokeParticipantKeyRequest) => serialized(async () => {
      requireParticipantId("participant_id", request.participantId);
      requireText("reason", request.reason, 200);
      const existing = await requireParticipant(request.participantId);
      const held = existing.keys.find((entry) => entry.keyId === request.keyId);
      if (!held) throw clearingError("KEY_NOT_FOUND", `participant ${request.participantId} has no key ${request.keyId}`, { field: "key_id" });
      if (held.status === KeyStatus.REVOKED) return existing;
      deps.logger.info({ participantId: request.participantId, keyId: request.keyId, reason: request.reason }, "revoking key");
      return change(request.participantId, async (tx) => {
        await revokeKey(tx, request.participantId, request.keyId, deps.now());
        await touchParticipant(tx, request.participantId, deps.now());
      });
    }),

    setStatus: (request: SetParticipantStatusRequest) => serialized(async () => {
      requireParticipantId("participant_id", request.participantId);
      requireText("reason", request.reason, 200);
      if (request.status !== ParticipantStatus.ACTIVE && request.status !== ParticipantStatus.SUSPENDED) throw invalidField("status", "must be ACTIVE or SUSPENDED");
      if (request.participantId === "operator" || request.participantId === "clearing") throw invalidField("participant_id", "the operator and clearing cannot be suspended");
      const existing = await requireParticipant(request.participantId);
      if (existing.status === request.status) return existing;
      deps.logger.info({ participantId: request.participantId, status: ParticipantStatus[request.status], reason: request.reason }, "participant status changed");
      return change(request.participantId, (tx) => setStatus(tx, request.participantId, request.status, deps.now()));
    }),

    get: (participantId: string) => requireParticipant(participantId),

    async list(afterId: string, limit: number): Promise<Participant[]> {
      return loadParticipants(deps.store, { afterId, limit });
    },
  };

  async function requireParticipant(participantId: string): Promise<Participant> {
    const participant = await current(participantId);
    if (!participant) throw clearingError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, { participant_id: participantId });
    return participant;
  }
}

function validateRegistration(request: RegisterParticipantRequest): Participant {
  requireParticipantId("participant_id", request.participantId);
  requireText("name", request.name, 200, true);
  if (!Object.values(ParticipantKind).includes(request.kind) || request.kind === ParticipantKind.UNSPECIFIED) throw invalidField("kind", "must be set");
  if (request.kind === ParticipantKind.OPERATOR) throw invalidField("kind", "OPERATOR is the configured operator only");
  if (request.currencies.length > MAX_CURRENCIES) throw invalidField("currencies", `must list at most ${MAX_CURRENCIES} codes`);
  request.currencies.forEach((currency, index) => requireCurrency(`currencies[${index}]`, currency));
  if (new Set(request.currencies).size !== request.currencies.length) throw invalidField("currencies", "must not repeat a code");
  if (request.keys.length === 0 || request.keys.length > MAX_KEYS) throw invalidField("keys", `must hold 1 to ${MAX_KEYS} keys`);
  request.keys.forEach((key, index) => {
    if (!KEY_ID_PATTERN.test(key.keyId)) throw invalidField(`keys[${index}].key_id`, "must be 1-64 characters of [A-Za-z0-9._-]");
    if (!usableEd25519PublicKey(key.publicKey)) throw invalidField(`keys[${index}].public_key`, PUBLIC_KEY_RULE);
  });
  if (new Set(request.keys.map((key) => key.keyId)).size !== request.keys.length) throw invalidField("keys", "must not repeat a key id");
  return create(ParticipantSchema, {
    participantId: request.participantId, name: request.name, kind: request.kind, currencies: [...request.currencies].sort(),
    status: ParticipantStatus.ACTIVE, version: 1n,
    keys: request.keys.map((key) => ({ keyId: key.keyId, publicKey: key.publicKey, status: KeyStatus.ACTIVE })),
  });
}

/** The same registration again returns the participant; anything different names the first differing field. */
function sameRegistration(existing: Participant, wanted: Participant): Participant {
  const differing =
    existing.name !== wanted.name ? "name"
    : existing.kind !== wanted.kind ? "kind"
    : existing.currencies.join(",") !== wanted.currencies.join(",") ? "currencies"
    : wanted.keys.some((key) => !existing.keys.some((held) => held.keyId === key.keyId && Buffer.compare(Buffer.from(held.publicKey), Buffer.from(key.publicKey)) === 0)) ? "keys"
    : undefined;
  if (differing) {
    throw clearingError("IDEMPOTENCY_CONFLICT", `participant ${existing.participantId} exists with a different ${differing}`, { field: differing });
  }
  return existing;
}

// Participants and keys in the store, read and written as contract messages.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { KeyStatus, ParticipantSchema, type Participant } from "@clearmesh/contracts";
import type { Queryable } from "@clearmesh/store";

type ParticipantRow = { participant_id: string; name: string; kind: bigint; status: bigint; currencies: string; version: bigint; created_at_ms: bigint; updated_at_ms: bigint };
type KeyRow = { participant_id: string; key_id: string; public_key: Uint8Array; status: bigint; created_at_ms: bigint; revoked_at_ms: bigint | null };

export async function loadParticipants(db: Queryable, filter: { afterId?: string; participantId?: string; limit?: number } = {}): Promise<Participant[]> {
  const rows = filter.participantId !== undefined
    ? await db.query<ParticipantRow>("SELECT * FROM participants WHERE participant_id = $1", [filter.participantId])
    : await db.query<ParticipantRow>("SELECT * FROM participants WHERE participant_id > $1 ORDER BY participant_id LIMIT $2", [filter.afterId ?? "", BigInt(filter.limit ?? 1_000_000)]);
  if (rows.length === 0) return [];
  const keys = filter.participantId !== undefined
    ? await db.query<KeyRow>("SELECT * FROM participant_keys WHERE participant_id = $1 ORDER BY created_at_ms, key_id", [filter.participantId])
    : await db.query<KeyRow>("SELECT * FROM participant_keys WHERE participant_id > $1 AND participant_id <= $2 ORDER BY created_at_ms, key_id", [filter.afterId ?? "", rows[rows.length - 1]!.participant_id]);
  const keysByParticipant = new Map<string, KeyRow[]>();
  for (const key of keys) {
    const list = keysByParticipant.get(key.participant_id) ?? [];
    list.push(key);
    keysByParticipant.set(key.participant_id, list);
  }
  return rows.map((row) => toParticipant(row, keysByParticipant.get(row.participant_id) ?? []));
}

function toParticipant(row: ParticipantRow, keys: readonly KeyRow[]): Participant {
  return create(ParticipantSchema, {
    participantId: row.participant_id,
    name: row.name,
    kind: Number(row.kind),
    status: Number(row.status),
    currencies: row.currencies === "" ? [] : row.currencies.split(","),
    version: BigInt(row.version),
    createdAt: timestampFromMs(Number(row.created_at_ms)),
    updatedAt: timestampFromMs(Number(row.updated_at_ms)),
    keys: keys.map((key) => ({
      keyId: key.key_id,
      publicKey: new Uint8Array(key.public_key),
      status: Number(key.status) as KeyStatus,
      createdAt: timestampFromMs(Number(key.created_at_ms)),
      revokedAt: key.revoked_at_ms === null ? undefined : timestampFromMs(Number(key.revoked_at_ms)),
    })),
  });
}

export async function insertParticipant(db: Queryable, participant: Participant, nowMs: number): Promise<void> {
  await db.execute(
    "INSERT INTO participants (participant_id, name, kind, status, currencies, version, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    [participant.participantId, participant.name, participant.kind, participant.status, participant.currencies.join(","), participant.version, BigInt(nowMs)],
  );
  for (const key of participant.keys) await insertKey(db, participant.participantId, key.keyId, key.publicKey, nowMs);
}

export async function insertKey(db: Queryable, participantId: string, keyId: string, publicKey: Uint8Array, nowMs: number): Promise<void> {
  await db.execute(
    "INSERT INTO participant_keys (participant_id, key_id, public_key, status, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    [participantId, keyId, publicKey, KeyStatus.ACTIVE, BigInt(nowMs)],
  );
}

export async function revokeKey(db: Queryable, participantId: string, keyId: string, nowMs: number): Promise<void> {
  await db.execute(
    "UPDATE participant_keys SET status = $1, revoked_at_ms = $2 WHERE participant_id = $3 AND key_id = $4 AND status = $5",
    [KeyStatus.REVOKED, BigInt(nowMs), participantId, keyId, KeyStatus.ACTIVE],
  );
}

/** Bumps the version; the caller re-reads the participant to publish it. */
export async function touchParticipant(db: Queryable, participantId: string, nowMs: number): Promise<void> {
  await db.execute("UPDATE participants SET version = version + 1, updated_at_ms = $1 WHERE participant_id = $2", [BigInt(nowMs), participantId]);
}

export async function setStatus(db: Queryable, participantId: string, status: number, nowMs: number): Promise<void> {
  await db.execute("UPDATE participants SET status = $1, version = version + 1, updated_at_ms = $2 WHERE participant_id = $3", [BigInt(status), BigInt(nowMs), participantId]);
}

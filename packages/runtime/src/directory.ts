// A service's local copy of the participant directory (PROTOCOL.md §4): seeded with the
// configured trust anchors, bootstrapped from clearing, and kept current by
// clearmesh.clearing.participant.updated events. Signature checks read keys from here.
import {
  KeyStatus, ParticipantStatus, type Participant,
} from "@clearmesh/contracts";
import type { KeyLookup, KeyRecord } from "@clearmesh/trust";

export interface TrustAnchor {
  participantId: string;
  keyId: string;
  publicKey: Uint8Array;
}

interface Entry {
  version: bigint;
  participant?: Participant;
  keys: Map<string, KeyRecord>;
}

export type DirectoryListener = (participant: Participant) => void;

export class Directory {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<DirectoryListener>();

  constructor(anchors: readonly TrustAnchor[] = []) {
    for (const anchor of anchors) {
      // Version 0: anything clearing publishes about the anchor (a new key, a revocation) wins.
      const entry = this.entries.get(anchor.participantId) ?? { version: 0n, keys: new Map() };
      entry.keys.set(anchor.keyId, { publicKey: anchor.publicKey, status: "active" });
      this.entries.set(anchor.participantId, entry);
    }
  }

  /** Applies a participant record if it is newer than what is held; returns whether it was. */
  apply(participant: Participant): boolean {
    const current = this.entries.get(participant.participantId);
    if (current && current.participant && participant.version <= current.version) return false;
    const keys = new Map<string, KeyRecord>();
    for (const key of participant.keys) {
      keys.set(key.keyId, { publicKey: key.publicKey, status: key.status === KeyStatus.ACTIVE ? "active" : "revoked" });
    }
    this.entries.set(participant.participantId, { version: participant.version, participant, keys });
    for (const listener of this.listeners) listener(participant);
    return true;
  }

  get(participantId: string): Participant | undefined {
    return this.entries.get(participantId)?.participant;
  }

  /** Whether the participant is known here at all (a trust anchor or a directory record). */
  has(participantId: string): boolean {
    return this.entries.has(participantId);
  }

  isActive(participantId: string): boolean {
    return this.get(participantId)?.status === ParticipantStatus.ACTIVE;
  }

  /** The lookup signature verification uses; a suspended participant's keys still verify (suspension is a business rule). */
  readonly lookupKey: KeyLookup = (participantId, keyId) => this.entries.get(participantId)?.keys.get(keyId);

  /** The public key of an active key, for event verification. */
  activePublicKey(participantId: string, keyId: string): Uint8Array | undefined {
    const record = this.lookupKey(participantId, keyId);
    return record?.status === "active" ? record.publicKey : undefined;
  }

  onChange(listener: DirectoryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  size(): number {
    return this.entries.size;
  }
}

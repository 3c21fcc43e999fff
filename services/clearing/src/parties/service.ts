// Party lookup: an alias (E.164 phone number or e-mail address) mapped to the participant that
// holds it, for payments between wallet providers. RegisterParty by the holder, LookupParty by
// any participant. Aliases are personal data: logs and messages show them masked, never whole.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ParticipantStatus, PartySchema, type LookupPartyRequest, type Party, type RegisterPartyRequest } from "@clearmesh/contracts";
import { aliasOf, type Caller, type Logger } from "@clearmesh/runtime";
import type { Queryable, Store } from "@clearmesh/store";
import { maskEmail, maskPhone } from "@clearmesh/trust";
import { LedgerError, type ParticipantView } from "../engine/types.js";
import { clearingError, invalidField } from "../errors.js";
import { requireParticipantId } from "../validation.js";


export interface PartyServiceDeps {
  store: Store;
  participants: ParticipantView;
  now: () => number;
  logger: Logger;
}

type PartyRow = { alias: string; participant_id: string; created_at_ms: bigint };

/**
 * The alias as stored (the runtime's shared alias rule: E.164 as is, e-mail lower-cased), or
 * INVALID_ARGUMENT naming `alias`; never echoes it.
 */
export function normalizeAlias(alias: string): string {
  const normalized = aliasOf(alias);
  if (normalized) return normalized.alias;
  throw invalidField("alias", "must be an E.164 phone number (+ and 7 to 15 digits) or an e-mail address");
}

/** The alias as it may appear in logs. */
export function maskAlias(alias: string): string {
  return alias.startsWith("+") ? maskPhone(alias) : maskEmail(alias);
}

export type PartyService = ReturnType<typeof createPartyService>;

export function createPartyService(deps: PartyServiceDeps) {
  return {
    /** Registers the alias as held by the signer; the same registration again answers the party as it is. */
    async register(request: RegisterPartyRequest, caller: Caller): Promise<Party> {
      const alias = normalizeAlias(request.alias);
      const participantId = requireParticipantId("participant_id", request.participantId);
      if (caller.participantId !== participantId) {
        throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not register aliases for ${participantId}`, { field: "participant_id" });
      }
      const participant = deps.participants.get(participantId);
      if (!participant) throw new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, "participant_id");
      if (participant.status !== ParticipantStatus.ACTIVE) throw new LedgerError("PARTICIPANT_INACTIVE", `participant ${participantId} is suspended`, "participant_id");
      const inserted = await deps.store.execute(
        "INSERT INTO parties (alias, participant_id, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (alias) DO NOTHING",
        [alias, participantId, BigInt(deps.now())],
      );
      const row = await findParty(deps.store, alias);
      if (!row) throw new Error("a registered party is missing from the store");
      if (row.participant_id !== participantId) throw new LedgerError("PARTY_TAKEN", "another participant holds this alias", "alias");
      if (inserted.changes > 0) deps.logger.info({ alias: maskAlias(alias), participantId }, "party registered");
      return partyMessage(row);
    },

    /** The participant holding the alias. */
    async lookup(request: LookupPartyRequest): Promise<Party> {
      const alias = normalizeAlias(request.alias);
      const row = await findParty(deps.store, alias);
      if (!row) throw new LedgerError("PARTY_NOT_FOUND", "no participant holds this alias", "alias");
      return partyMessage(row);
    },
  };
}

function partyMessage(row: PartyRow): Party {
  return create(PartySchema, { alias: row.alias, participantId: row.participant_id, createdAt: timestampFromMs(Number(row.created_at_ms)) });
}

async function findParty(db: Queryable, alias: string): Promise<PartyRow | undefined> {
  const [row] = await db.query<PartyRow>("SELECT alias, participant_id, created_at_ms FROM parties WHERE alias = $1", [alias]);
  return row;
}

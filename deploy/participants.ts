// deploy/participants.txt: the participants a compose deployment registers at clearing. Read
// by deploy/register-participants.ts and by the compose test; deploy/make-secrets.sh reads the
// first column (the ids it creates keys for).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PARTICIPANT_KINDS, type ParticipantKindName } from "@clearmesh/cli";
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";

export const PARTICIPANTS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), "participants.txt");

export interface DeployParticipant {
  participantId: string;
  kind: ParticipantKindName;
  currencies: string[];
  name: string;
}

/** Parses the file's lines: `<id> <kind> <currencies|-> <name…>`; `#` starts a comment line. */
export function parseParticipants(text: string): DeployParticipant[] {
  const participants: DeployParticipant[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `participants line ${index + 1}`;
    const match = /^(\S+)\s+(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!match) throw new Error(`${where}: expected "<id> <kind> <currencies|-> <name>"`);
    const [, participantId = "", kind = "", currencies = "", name = ""] = match;
    if (!PARTICIPANT_ID_PATTERN.test(participantId)) throw new Error(`${where}: "${participantId}" is not a participant id`);
    if (seen.has(participantId)) throw new Error(`${where}: ${participantId} is listed twice`);
    if (!Object.hasOwn(PARTICIPANT_KINDS, kind)) throw new Error(`${where}: kind must be one of ${Object.keys(PARTICIPANT_KINDS).join(", ")}`);
    const codes = currencies === "-" ? [] : currencies.split(",");
    if (codes.some((code) => !/^[A-Z]{3}$/.test(code))) throw new Error(`${where}: currencies must be ISO 4217 codes such as EUR,USD, or -`);
    seen.add(participantId);
    participants.push({ participantId, kind: kind as ParticipantKindName, currencies: codes, name: name.trim() });
  });
  return participants;
}

export function readParticipants(file: string = PARTICIPANTS_FILE): DeployParticipant[] {
  return parseParticipants(fs.readFileSync(file, "utf8"));
}

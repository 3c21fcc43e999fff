// ListTransfers: a participant's transfers as payer or payee, newest first, paged by a token
// that names the last transfer of the page.
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ListTransfersResponseSchema, TransferState, type ListTransfersRequest, type ListTransfersResponse } from "@clearmesh/contracts";
import type { Caller } from "@clearmesh/runtime";
import type { Queryable, SqlValue } from "@clearmesh/store";
import { clearingError, invalidField } from "../errors.js";
import { transferFromRow, type TransferRow } from "../engine/load.js";
import { transferMessage } from "../engine/messages.js";
import { pageLimit, requireParticipantId } from "../validation.js";


export async function listTransfers(db: Queryable, request: ListTransfersRequest, caller: Caller): Promise<ListTransfersResponse> {
  const participantId = requireParticipantId("participant_id", request.participantId);
  if (caller.participantId !== participantId && caller.participantId !== "operator") {
    throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not list the transfers of ${participantId}`, { field: "participant_id" });
  }
  const limit = pageLimit(request.page?.pageSize);
  if (!Object.values(TransferState).includes(request.state)) throw invalidField("state", "is not a transfer state");
  const params: SqlValue[] = [participantId];
  const where = ["(payer_id = $1 OR payee_id = $1)"];
  const add = (clause: string, value: SqlValue) => { params.push(value); where.push(clause.replace("?", `$${params.length}`)); };
  if (request.state !== TransferState.UNSPECIFIED) add("state = ?", BigInt(request.state));
  if (request.createdFrom) add("created_at_ms >= ?", timestampMs(request.createdFrom));
  if (request.createdTo) add("created_at_ms < ?", timestampMs(request.createdTo));
  const after = decodeToken(request.page?.pageToken ?? "");
  if (after) {
    params.push(after.createdAtMs, after.transferId);
    where.push(`(created_at_ms < $${params.length - 1} OR (created_at_ms = $${params.length - 1} AND transfer_id < $${params.length}))`);
  }
  params.push(BigInt(limit + 1));
  const rows = await db.query<TransferRow>(`SELECT * FROM transfers WHERE ${where.join(" AND ")} ORDER BY created_at_ms DESC, transfer_id DESC LIMIT $${params.length}`, params);
  const page = rows.slice(0, limit).map(transferFromRow);
  const last = page[page.length - 1];
  const nextPageToken = rows.length > limit && last ? Buffer.from(`t1:${last.createdAtMs}:${last.transferId}`).toString("base64url") : "";
  return create(ListTransfersResponseSchema, { transfers: page.map(transferMessage), page: { nextPageToken } });
}

function decodeToken(token: string): { createdAtMs: bigint; transferId: string } | undefined {
  if (token === "") return undefined;
  const match = /^t1:(\d{1,16}):(.+)$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (!match) throw invalidField("page.page_token", "is not a token this server issued");
  return { createdAtMs: BigInt(match[1]!), transferId: match[2]! };
}

// ClearingService handlers: decode, authorize, call the domain, return. Methods of the clearing
// engine issue that are not built yet are left out, so they answer UNIMPLEMENTED.
import type { ServiceImpl } from "@connectrpc/connect";
import type { ClearingService } from "@clearmesh/contracts";
import { callerOf, requireCaller } from "@clearmesh/runtime";
import { requireParticipantId } from "./validation.js";
import { invalidField } from "./errors.js";
import type { DirectoryService } from "./directory/service.js";
import type { TransferService } from "./transfers/service.js";

const OPERATOR = ["operator"];
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;

export function clearingHandlers(directory: DirectoryService, transfers: TransferService): Partial<ServiceImpl<typeof ClearingService>> {
  return {
    async registerParticipant(request, context) {
      requireCaller(context, OPERATOR, "register participants");
      return directory.register(request);
    },
    async getParticipant(request, context) {
      callerOf(context);
      return directory.get(requireParticipantId("participant_id", request.participantId));
    },
    async listParticipants(request, context) {
      callerOf(context);
      const pageSize = request.page?.pageSize ?? 0;
      if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) throw invalidField("page.page_size", `must be 0 to ${MAX_PAGE_SIZE}`);
      const limit = pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize;
      const afterId = decodePageToken(request.page?.pageToken ?? "");
      const participants = await directory.list(afterId, limit + 1);
      const page = participants.slice(0, limit);
      const nextPageToken = participants.length > limit ? encodePageToken(page[page.length - 1]!.participantId) : "";
      return { participants: page, page: { nextPageToken } };
    },
    async addParticipantKey(request, context) {
      requireCaller(context, OPERATOR, "change keys");
      return directory.addKey(request);
    },
    async revokeParticipantKey(request, context) {
      requireCaller(context, OPERATOR, "change keys");
      return directory.revokeKey(request);
    },
    async createTransfer(request, context) {
      return transfers.createTransfer(request, callerOf(context));
    },
    async getTransfer(request, context) {
      return transfers.getTransfer(request.transferId, callerOf(context));
    },
  };
}

function encodePageToken(lastId: string): string {
  return Buffer.from(`p1:${lastId}`).toString("base64url");
}

function decodePageToken(token: string): string {
  if (token === "") return "";
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith("p1:")) throw invalidField("page.page_token", "is not a token this server issued");
  return text.slice(3);
}

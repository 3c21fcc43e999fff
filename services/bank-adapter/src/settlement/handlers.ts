// The settlement bank's RPC: read one settlement account. Authorize, validate, read, answer.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { SettlementAccountSchema, type BankAdapterService } from "@clearmesh/contracts";
import { requireCaller } from "@clearmesh/runtime";
import type { Queryable } from "@clearmesh/store";
import { PARTICIPANT_ID_PATTERN } from "@clearmesh/trust";
import { bankAdapterError, invalidField } from "../errors.js";
import { CURRENCY_PATTERN } from "./books.js";
import { findSettlementAccount } from "./repository.js";

/** Who besides the account's own participant may read it. */
const OPERATOR = "operator";

export function settlementHandlers(db: Queryable): Pick<ServiceImpl<typeof BankAdapterService>, "getSettlementAccount"> {
  return {
    async getSettlementAccount(request, context) {
      requireCaller(context, [request.participantId, OPERATOR], "read this settlement account");
      if (!PARTICIPANT_ID_PATTERN.test(request.participantId)) throw invalidField("participant_id", "must match [a-z0-9][a-z0-9-]{2,31}");
      if (!CURRENCY_PATTERN.test(request.currency)) throw invalidField("currency", "must be an ISO 4217 code of three upper-case letters");
      const account = await findSettlementAccount(db, request.participantId, request.currency);
      if (account === undefined) {
        throw bankAdapterError("SETTLEMENT_ACCOUNT_NOT_FOUND", `${request.participantId} has no settlement account in ${request.currency}`);
      }
      return create(SettlementAccountSchema, account);
    },
  };
}

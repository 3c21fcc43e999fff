// ClearingService handlers: decode, authorize, call the domain, return. Methods not built yet
// are left out, so they answer UNIMPLEMENTED.
import type { ServiceImpl } from "@connectrpc/connect";
import type { ClearingService } from "@clearmesh/contracts";
import type { HandlerContext } from "@connectrpc/connect";
import { callerOf, pageToken, requireCaller } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { DirectoryService } from "./directory/service.js";
import type { ClearingEngine } from "./engine/engine.js";
import { LedgerError } from "./engine/types.js";
import { clearingError } from "./errors.js";
import type { createLiquidityService } from "./liquidity/service.js";
import type { PartyService } from "./parties/service.js";
import type { FxRateService } from "./quotes/rates.js";
import type { QuoteService } from "./quotes/service.js";
import type { SettlementService } from "./settlement/service.js";
import { listTransfers } from "./transfers/list.js";
import type { TransferService } from "./transfers/service.js";
import { pageAfter, pageLimit, requireParticipantId } from "./validation.js";

const OPERATOR = ["operator"];

export interface ClearingParts {
  store: Store;
  engine: ClearingEngine;
  directory: DirectoryService;
  transfers: TransferService;
  liquidity: ReturnType<typeof createLiquidityService>;
  settlement: SettlementService;
  quotes: QuoteService;
  fxRates: FxRateService;
  parties: PartyService;
}

export function clearingHandlers(parts: ClearingParts): Partial<ServiceImpl<typeof ClearingService>> {
  const { directory, transfers, liquidity, settlement, quotes, fxRates, parties } = parts;
  /** Writes go only through the active instance; a standby answers UNAVAILABLE / STANDBY. */
  const active = (context: HandlerContext) => {
    if (!parts.engine.ready) throw clearingError("STANDBY", "this clearing instance is not active; try the active one");
    return callerOf(context);
  };
  return {
    registerParticipant: (request, context) => (active(context), requireCaller(context, OPERATOR, "register participants"), directory.register(request)),
    getParticipant: (request, context) => (callerOf(context), directory.get(requireParticipantId("participant_id", request.participantId))),
    async listParticipants(request, context) {
      callerOf(context);
      const limit = pageLimit(request.page?.pageSize);
      const [after = ""] = pageAfter(request.page?.pageToken ?? "", 1) ?? [];
      const participants = await directory.list(after, limit + 1);
      const page = participants.slice(0, limit);
      const nextPageToken = participants.length > limit ? pageToken([page[page.length - 1]!.participantId]) : "";
      return { participants: page, page: { nextPageToken } };
    },
    addParticipantKey: (request, context) => (active(context), requireCaller(context, OPERATOR, "change keys"), directory.addKey(request)),
    revokeParticipantKey: (request, context) => (active(context), requireCaller(context, OPERATOR, "change keys"), directory.revokeKey(request)),
    setParticipantStatus: (request, context) => (active(context), requireCaller(context, OPERATOR, "suspend or reactivate participants"), directory.setStatus(request)),

    depositLiquidity: (request, context) => edge(() => (active(context), requireCaller(context, OPERATOR, "move liquidity"), liquidity.deposit(request))),
    withdrawLiquidity: (request, context) => edge(() => (active(context), requireCaller(context, OPERATOR, "move liquidity"), liquidity.withdraw(request))),
    setNetDebitCap: (request, context) => edge(() => (active(context), requireCaller(context, OPERATOR, "set caps"), liquidity.setNetDebitCap(request))),
    getPosition: (request, context) => edge(() => liquidity.getPosition(request.participantId, request.currency, active(context))),

    createTransfer: (request, context) => edge(() => transfers.createTransfer(request, active(context))),
    prepareTransfer: (request, context) => edge(() => transfers.prepareTransfer(request, active(context))),
    commitTransfer: (request, context) => edge(() => transfers.commitTransfer(request, active(context))),
    abortTransfer: (request, context) => edge(() => transfers.abortTransfer(request, active(context))),
    getTransfer: (request, context) => edge(() => transfers.getTransfer(request.transferId, active(context))),
    listTransfers: (request, context) => edge(async () => {
      const caller = active(context);
      await parts.engine.read(() => undefined);
      return listTransfers(parts.store, request, caller);
    }),

    closeSettlementWindow: (request, context) => edge(() => (active(context), requireCaller(context, OPERATOR, "close settlement windows"), settlement.close(request))),
    retrySettlementWindow: (request, context) => edge(() => (active(context), requireCaller(context, OPERATOR, "retry settlement"), settlement.retry(request))),
    getSettlementWindow: (request, context) => edge(() => (active(context), settlement.get(request.windowId))),
    listSettlementWindows: (request, context) => edge(() => (active(context), settlement.list(request))),
    getSettlementReport: (request, context) => edge(() => settlement.report(request.windowId, request.participantId, active(context))),

    createQuote: (request, context) => edge(() => quotes.createQuote(request, active(context))),
    setFxRate: (request, context) => edge(() => (active(context), requireCaller(context, OPERATOR, "set FX rates"), fxRates.setRate(request))),
    registerParty: (request, context) => edge(() => parties.register(request, active(context))),
    lookupParty: (request, context) => edge(() => (callerOf(context), parties.lookup(request))),
  };
}

/** Domain refusals (LedgerError) become the typed errors of the reason table. */
async function edge<T>(work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LedgerError) throw clearingError(error.reason, error.message, error.field ? { field: error.field } : {});
    throw error;
  }
}

// The wallet's calls to clearing, signed with the hosted provider's own key (PROTOCOL.md §4) and
// each answer verified as clearing's. Every outcome is one of three kinds, and callers act on it:
// - ok: clearing answered;
// - refused: a definite refusal (a business reason, a malformed request, no such transfer or
//   party); for a new transfer id nothing happened at clearing, and nothing ever will;
// - unknown: no answer (timeout, clearing away or on standby, a bad response signature); the
//   call may or may not have taken effect. Holds stay, and the reconciler asks again later.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type {
  AbortTransferRequestSchema, ClearingService, CreateQuoteRequestSchema, CreateTransferRequestSchema, Party, PrepareTransferRequestSchema, Quote, Transfer,
} from "@clearmesh/contracts";
import { errorInfo, type SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";

export type Outcome<T> =
  | { kind: "ok"; value: T }
  | { kind: "refused"; reason: string; message: string; field: string }
  | { kind: "unknown"; problem: string };

/** What the wallet needs from clearing, as each hosted provider; tests may give a fake. */
export interface ClearingGateway {
  lookupParty(providerId: string, alias: string): Promise<Outcome<Party>>;
  registerParty(providerId: string, alias: string): Promise<Outcome<Party>>;
  createQuote(providerId: string, request: MessageInitShape<typeof CreateQuoteRequestSchema>): Promise<Outcome<Quote>>;
  createTransfer(providerId: string, request: MessageInitShape<typeof CreateTransferRequestSchema>): Promise<Outcome<Transfer>>;
  prepareTransfer(providerId: string, request: MessageInitShape<typeof PrepareTransferRequestSchema>): Promise<Outcome<Transfer>>;
  abortTransfer(providerId: string, request: MessageInitShape<typeof AbortTransferRequestSchema>): Promise<Outcome<Transfer>>;
  getTransfer(providerId: string, transferId: string): Promise<Outcome<Transfer>>;
}

/** gRPC codes that mean clearing decided and said no; everything else leaves the outcome unknown. */
const DEFINITE_CODES: ReadonlySet<number> = new Set([
  Code.InvalidArgument, Code.NotFound, Code.AlreadyExists, Code.PermissionDenied, Code.FailedPrecondition, Code.OutOfRange,
]);

export function clearingGateway(clearing: SignedClient<typeof ClearingService>, hostedKeys: ReadonlyMap<string, SigningKey>, deadlineMs: number): ClearingGateway {
  const as = (providerId: string) => {
    const signer = hostedKeys.get(providerId);
    if (!signer) throw new Error(`no key for hosted provider ${providerId}`);
    return { signer, deadlineMs };
  };
  const call = async <T>(work: () => Promise<T>): Promise<Outcome<T>> => {
    try {
      return { kind: "ok", value: await work() };
    } catch (error) {
      return outcomeOfError(error);
    }
  };
  return {
    lookupParty: (providerId, alias) => call(() => clearing.lookupParty({ alias }, as(providerId))),
    registerParty: (providerId, alias) => call(() => clearing.registerParty({ alias, participantId: providerId }, as(providerId))),
    createQuote: (providerId, request) => call(() => clearing.createQuote(request, as(providerId))),
    createTransfer: (providerId, request) => call(() => clearing.createTransfer(request, as(providerId))),
    prepareTransfer: (providerId, request) => call(() => clearing.prepareTransfer(request, as(providerId))),
    abortTransfer: (providerId, request) => call(() => clearing.abortTransfer(request, as(providerId))),
    getTransfer: (providerId, transferId) => call(() => clearing.getTransfer({ transferId }, as(providerId))),
  };
}

export function outcomeOfError<T>(error: unknown): Outcome<T> {
  const code = (error as { code?: unknown } | undefined)?.code;
  const info = errorInfo(error);
  if (typeof code === "number" && DEFINITE_CODES.has(code) && info) {
    const details = error as { details?: unknown; rawMessage?: unknown };
    const message = typeof details.rawMessage === "string" ? details.rawMessage : typeof details.details === "string" ? details.details : info.reason;
    return { kind: "refused", reason: info.reason, message, field: info.metadata.field ?? "" };
  }
  return { kind: "unknown", problem: (error as Error)?.message ?? String(error) };
}

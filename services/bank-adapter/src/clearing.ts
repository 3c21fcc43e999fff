// The bank's calls to clearing, signed with the hosted bank's own key (PROTOCOL.md §4: a process
// that hosts participants signs the calls it makes on their behalf), each answer verified as
// clearing's. Every outcome is one of three kinds, and the callers act on the kind:
// - ok: clearing answered with the transfer;
// - refused: clearing answered a definite refusal (a business reason, a malformed request, no
//   such transfer); nothing happened there, and for a new transfer id nothing ever will;
// - unknown: no answer (timeout, clearing away or on standby, a response that failed its
//   signature check); the call may or may not have taken effect. Callers keep their holds and
//   ask again later with the same transfer id (clearing's idempotency makes that safe).
import { Code } from "@connectrpc/connect";
import type { AbortTransferRequest, ClearingService, Transfer } from "@clearmesh/contracts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CreateTransferRequestSchema, PrepareTransferRequestSchema, AbortTransferRequestSchema } from "@clearmesh/contracts";
import { errorInfo, type SignedClient } from "@clearmesh/runtime";
import type { SigningKey } from "@clearmesh/trust";
import { BankError, PASSED_ON_CLEARING_REASONS, type BankAdapterReason } from "./errors.js";

/** Longest the bank waits for one clearing call before treating the outcome as unknown. */
export const CLEARING_CALL_DEADLINE_MS = 10_000;

export type ClearingOutcome =
  | { kind: "ok"; transfer: Transfer }
  | { kind: "refused"; reason: string; message: string; field: string }
  | { kind: "unknown"; problem: string };

/** What the bank needs from clearing; tests give a fake. */
export interface ClearingGateway {
  createTransfer(bankId: string, request: MessageInitShape<typeof CreateTransferRequestSchema>): Promise<ClearingOutcome>;
  prepareTransfer(bankId: string, request: MessageInitShape<typeof PrepareTransferRequestSchema>): Promise<ClearingOutcome>;
  abortTransfer(bankId: string, request: MessageInitShape<typeof AbortTransferRequestSchema>): Promise<ClearingOutcome>;
  getTransfer(bankId: string, transferId: string): Promise<ClearingOutcome>;
}

/** gRPC codes that mean clearing decided and said no; everything else leaves the outcome unknown. */
const DEFINITE_CODES: ReadonlySet<number> = new Set([
  Code.InvalidArgument, Code.NotFound, Code.AlreadyExists, Code.PermissionDenied, Code.FailedPrecondition, Code.OutOfRange,
]);

export function clearingGateway(clearing: SignedClient<typeof ClearingService>, hostedKeys: ReadonlyMap<string, SigningKey>): ClearingGateway {
  const signerOf = (bankId: string) => {
    const signer = hostedKeys.get(bankId);
    if (!signer) throw new Error(`no key for hosted bank ${bankId}`);
    return { signer, deadlineMs: CLEARING_CALL_DEADLINE_MS };
  };
  const call = async (work: () => Promise<Transfer>): Promise<ClearingOutcome> => {
    try {
      return { kind: "ok", transfer: await work() };
    } catch (error) {
      return outcomeOfError(error);
    }
  };
  return {
    createTransfer: (bankId, request) => call(() => clearing.createTransfer(request, signerOf(bankId))),
    prepareTransfer: (bankId, request) => call(() => clearing.prepareTransfer(request, signerOf(bankId))),
    abortTransfer: (bankId, request) => call(() => clearing.abortTransfer(request as AbortTransferRequest, signerOf(bankId))),
    getTransfer: (bankId, transferId) => call(() => clearing.getTransfer({ transferId }, signerOf(bankId))),
  };
}

export function outcomeOfError(error: unknown): ClearingOutcome {
  const code = (error as { code?: unknown } | undefined)?.code;
  const info = errorInfo(error);
  if (typeof code === "number" && DEFINITE_CODES.has(code) && info) {
    const details = (error as { details?: unknown; rawMessage?: unknown });
    const message = typeof details.rawMessage === "string" ? details.rawMessage : typeof details.details === "string" ? details.details : info.reason;
    return { kind: "refused", reason: info.reason, message, field: info.metadata.field ?? "" };
  }
  return { kind: "unknown", problem: (error as Error)?.message ?? String(error) };
}

/** A clearing refusal as the bank's answer: clearing's own reason where the bank passes it on. */
export function clearingRefusal(outcome: Extract<ClearingOutcome, { kind: "refused" }>): BankError {
  const metadata = { clearing_reason: outcome.reason, ...(outcome.field ? { field: outcome.field } : {}) };
  const reason: BankAdapterReason = PASSED_ON_CLEARING_REASONS.has(outcome.reason) ? outcome.reason as BankAdapterReason : "CLEARING_REFUSED";
  return new BankError(reason, `clearing refused: ${outcome.message}`, metadata);
}

export function clearingUnavailable(what: string): BankError {
  return new BankError("CLEARING_UNAVAILABLE", `clearing did not answer; ${what}`);
}

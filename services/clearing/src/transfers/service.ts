// The thin transfer slice of the foundation: CreateTransfer (a push payment, committed at once)
// and GetTransfer. Writes are group-committed: many transfers per store transaction, each
// answer only after its batch is durable, each with its transfer.committed event in the outbox.
// Positions, caps, two-phase transfers and windows come with the clearing engine.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { TransferCommittedSchema, TransferSchema, TransferState, type CreateTransferRequest, type Transfer } from "@clearmesh/contracts";
import type { Caller, Directory } from "@clearmesh/runtime";
import { GroupCommitter, UniqueViolationError, type Store } from "@clearmesh/store";
import { clearingError, invalidField } from "../errors.js";
import { SUBJECTS, type EventWriter } from "../events.js";
import { MAX_REFERENCE_CHARS, requireId, requireParticipantId, requirePositiveMoney, requireText } from "../validation.js";
import { findTransfer, insertTransfer } from "./repository.js";

export interface TransferServiceDeps {
  store: Store;
  directory: Directory;
  writeEvent: EventWriter;
  notifyOutbox: () => void;
  now: () => number;
  maxBatchTransfers: number;
}

export type TransferService = ReturnType<typeof createTransferService>;

export function createTransferService(deps: TransferServiceDeps) {
  const committer = new GroupCommitter(deps.store, { maxBatchSize: deps.maxBatchTransfers, maxQueued: 100 * deps.maxBatchTransfers });

  const commit = async (transfer: Transfer): Promise<Transfer> => {
    const nowMs = deps.now();
    try {
      await committer.submit(async (tx) => {
        await insertTransfer(tx, transfer, nowMs, nowMs);
        await deps.writeEvent(tx, SUBJECTS.transferCommitted, TransferCommittedSchema, { transferId: transfer.transferId, transfer });
      });
    } catch (error) {
      // A concurrent call with the same id won the insert: answer as a repeat of it.
      if (!(error instanceof UniqueViolationError)) throw error;
      return sameRequest((await findTransfer(deps.store, transfer.transferId))!, transfer);
    }
    deps.notifyOutbox();
    return create(TransferSchema, { ...transfer, createdAt: timestampFromMs(nowMs), completedAt: timestampFromMs(nowMs) });
  };

  return {
    async createTransfer(request: CreateTransferRequest, caller: Caller): Promise<Transfer> {
      const wanted = validateCreate(request);
      if (caller.participantId !== wanted.payerId) {
        throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not pay for ${wanted.payerId}`, { field: "payer_id" });
      }
      const existing = await findTransfer(deps.store, wanted.transferId);
      if (existing) return sameRequest(existing, wanted);
      checkParties(deps.directory, wanted);
      return commit(wanted);
    },

    async getTransfer(transferId: string, caller: Caller): Promise<Transfer> {
      requireId("transfer_id", transferId);
      const transfer = await findTransfer(deps.store, transferId);
      const mayRead = transfer && [transfer.payerId, transfer.payeeId, "operator"].includes(caller.participantId);
      // A non-party learns nothing, not even whether the id exists.
      if (!transfer || !mayRead) throw clearingError("TRANSFER_NOT_FOUND", `no transfer ${transferId} visible to ${caller.participantId}`, { transfer_id: transferId });
      return transfer;
    },

    close: () => committer.close(),
  };
}

function validateCreate(request: CreateTransferRequest): Transfer {
  const transferId = requireId("transfer_id", request.transferId);
  const payerId = requireParticipantId("payer_id", request.payerId);
  const payeeId = requireParticipantId("payee_id", request.payeeId);
  if (payerId === payeeId) throw clearingError("SAME_PARTICIPANT", "payer_id and payee_id must differ", { field: "payee_id" });
  const amount = requirePositiveMoney("amount", request.amount);
  if (request.quoteId !== "") throw invalidField("quote_id", "refers to no quote (quotes are not offered yet)");
  requireText("payer_reference", request.payerReference, MAX_REFERENCE_CHARS);
  requireText("payee_reference", request.payeeReference, MAX_REFERENCE_CHARS);
  return create(TransferSchema, {
    transferId, payerId, payeeId, amount, fee: { currency: amount.currency, amountMinor: 0n },
    state: TransferState.COMMITTED, quoteId: "", payerReference: request.payerReference, payeeReference: request.payeeReference,
  });
}

function checkParties(directory: Directory, transfer: Transfer): void {
  const currency = transfer.amount!.currency;
  for (const [field, participantId] of [["payer_id", transfer.payerId], ["payee_id", transfer.payeeId]] as const) {
    const participant = directory.get(participantId);
    if (!participant) throw clearingError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, { field });
    if (!directory.isActive(participantId)) throw clearingError("PARTICIPANT_INACTIVE", `participant ${participantId} is suspended`, { field });
    if (!participant.currencies.includes(currency)) {
      throw clearingError("CURRENCY_NOT_ENABLED", `participant ${participantId} does not transact in ${currency}`, { field: "amount.currency" });
    }
  }
}

/** Same id, same request: the transfer as it is. Same id, different request: names the first differing field. */
function sameRequest(existing: Transfer, wanted: Transfer): Transfer {
  const fields: Array<[string, unknown, unknown]> = [
    ["payer_id", existing.payerId, wanted.payerId],
    ["payee_id", existing.payeeId, wanted.payeeId],
    ["amount.currency", existing.amount?.currency, wanted.amount?.currency],
    ["amount.amount_minor", existing.amount?.amountMinor, wanted.amount?.amountMinor],
    ["quote_id", existing.quoteId, wanted.quoteId],
    ["payer_reference", existing.payerReference, wanted.payerReference],
    ["payee_reference", existing.payeeReference, wanted.payeeReference],
  ];
  const differing = fields.find(([, held, asked]) => held !== asked);
  if (differing) {
    throw clearingError("IDEMPOTENCY_CONFLICT", `transfer ${existing.transferId} exists with a different ${differing[0]}`, { field: differing[0] });
  }
  return existing;
}

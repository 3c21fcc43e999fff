// Request validation (pure): a transfer request becomes TransferTerms or a typed error naming
// the field, before it reaches the engine.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { CreateTransferRequest, PrepareTransferRequest } from "@clearmesh/contracts";
import { sha256, toHex } from "@clearmesh/trust";
import { clearingError, invalidField } from "../errors.js";
import type { TransferFailure, TransferRecord, TransferTerms } from "../engine/types.js";
import { MAX_REFERENCE_CHARS, requireId, requireParticipantId, requirePositiveMoney, requireText } from "../validation.js";

export function createTerms(request: CreateTransferRequest): TransferTerms {
  return { ...commonTerms(request), kind: "create", expiresAtMs: null, conditionHex: "" };
}

export function prepareTerms(request: PrepareTransferRequest, nowMs: number, maxExpiryMs: number): TransferTerms {
  if (!request.expiresAt) throw invalidField("expires_at", "is required");
  const expiresAtMs = Number(timestampMs(request.expiresAt));
  if (!Number.isFinite(expiresAtMs) || expiresAtMs <= nowMs) throw invalidField("expires_at", "must be in the future");
  if (expiresAtMs > nowMs + maxExpiryMs) throw invalidField("expires_at", `must be at most ${maxExpiryMs} ms from now`);
  if (request.condition.length !== 0 && request.condition.length !== 32) throw invalidField("condition", "must be a 32-byte SHA-256 digest");
  return { ...commonTerms(request), kind: "prepare", expiresAtMs, conditionHex: toHex(request.condition) };
}

function commonTerms(request: CreateTransferRequest | PrepareTransferRequest) {
  const transferId = requireId("transfer_id", request.transferId);
  const payerId = requireParticipantId("payer_id", request.payerId);
  const payeeId = requireParticipantId("payee_id", request.payeeId);
  if (payerId === payeeId) throw clearingError("SAME_PARTICIPANT", "payer_id and payee_id must differ", { field: "payee_id" });
  const amount = requirePositiveMoney("amount", request.amount);
  if (request.quoteId !== "") requireId("quote_id", request.quoteId);
  requireText("payer_reference", request.payerReference, MAX_REFERENCE_CHARS);
  requireText("payee_reference", request.payeeReference, MAX_REFERENCE_CHARS);
  return {
    transferId, payerId, payeeId, currency: amount.currency, amount: amount.amountMinor, quoteId: request.quoteId,
    payerReference: request.payerReference, payeeReference: request.payeeReference,
  };
}

/** The first field in which a repeat differs from what the id was first used for, if any. */
export function differingField(held: TransferTerms, asked: TransferTerms): string | undefined {
  const fields: Array<[string, unknown, unknown]> = [
    ["method", held.kind, asked.kind],
    ["payer_id", held.payerId, asked.payerId],
    ["payee_id", held.payeeId, asked.payeeId],
    ["amount.currency", held.currency, asked.currency],
    ["amount.amount_minor", held.amount, asked.amount],
    ["quote_id", held.quoteId, asked.quoteId],
    ["payer_reference", held.payerReference, asked.payerReference],
    ["payee_reference", held.payeeReference, asked.payeeReference],
    ["expires_at", held.expiresAtMs, asked.expiresAtMs],
    ["condition", held.conditionHex, asked.conditionHex],
  ];
  return fields.find(([, a, b]) => a !== b)?.[0];
}

/** The terms a stored transfer was created with (its prepared amount, not a partial commit). */
export function termsOf(record: TransferRecord | TransferFailure): TransferTerms {
  if ("terms" in record) return record.terms;
  const { kind, transferId, payerId, payeeId, currency, preparedAmount, quoteId, payerReference, payeeReference, expiresAtMs, conditionHex } = record;
  return { kind, transferId, payerId, payeeId, currency, amount: preparedAmount, quoteId, payerReference, payeeReference, expiresAtMs, conditionHex };
}

export function fulfils(conditionHex: string, fulfilment: Uint8Array): boolean {
  return conditionHex === "" || toHex(sha256(fulfilment)) === conditionHex;
}

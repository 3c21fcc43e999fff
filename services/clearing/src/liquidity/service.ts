// Liquidity and limits: deposits and withdrawals of prefunded settlement balance, net debit
// caps, and positions (ARCHITECTURE.md "Positions, by sign").
import { create } from "@bufbuild/protobuf";
import {
  LiquidityDepositedSchema, LiquidityWithdrawnSchema, PositionSchema,
  type DepositLiquidityRequest, type Position, type SetNetDebitCapRequest, type WithdrawLiquidityRequest,
} from "@clearmesh/contracts";
import type { Caller } from "@clearmesh/runtime";
import type { ClearingEngine } from "../engine/engine.js";
import { positionMessage } from "../engine/messages.js";
import { accountKey, type ParticipantView } from "../engine/types.js";
import { clearingError, invalidField } from "../errors.js";
import type { RequestBook } from "../requests.js";
import { INT64_MAX, requireCurrency, requireId, requireParticipantId, requirePositiveMoney } from "../validation.js";

export function createLiquidityService(deps: { engine: ClearingEngine; requests: RequestBook; participants: ParticipantView }) {
  const fingerprint = (participantId: string, currency: string, amount: bigint) => ({ participant_id: participantId, "amount.currency": currency, "amount.amount_minor": amount.toString() });

  return {
    deposit(request: DepositLiquidityRequest): Promise<Position> {
      requireId("request_id", request.requestId);
      const participantId = requireParticipantId("participant_id", request.participantId);
      const amount = requirePositiveMoney("amount", request.amount);
      return deps.requests.once("DepositLiquidity", request.requestId, fingerprint(participantId, amount.currency, amount.amountMinor), PositionSchema, (ledger, journal) => {
        const position = positionMessage(ledger.deposit(participantId, amount.currency, amount.amountMinor), ledger);
        journal.event("clearmesh.clearing.liquidity.deposited", LiquidityDepositedSchema, create(LiquidityDepositedSchema, { requestId: request.requestId, participantId, amount, position }));
        return position;
      });
    },

    withdraw(request: WithdrawLiquidityRequest): Promise<Position> {
      requireId("request_id", request.requestId);
      const participantId = requireParticipantId("participant_id", request.participantId);
      const amount = requirePositiveMoney("amount", request.amount);
      return deps.requests.once("WithdrawLiquidity", request.requestId, fingerprint(participantId, amount.currency, amount.amountMinor), PositionSchema, (ledger, journal) => {
        const position = positionMessage(ledger.withdraw(participantId, amount.currency, amount.amountMinor), ledger);
        journal.event("clearmesh.clearing.liquidity.withdrawn", LiquidityWithdrawnSchema, create(LiquidityWithdrawnSchema, { requestId: request.requestId, participantId, amount, position }));
        return position;
      });
    },

    setNetDebitCap(request: SetNetDebitCapRequest): Promise<Position> {
      requireId("request_id", request.requestId);
      const participantId = requireParticipantId("participant_id", request.participantId);
      if (!request.cap) throw invalidField("cap", "is required");
      const currency = requireCurrency("cap.currency", request.cap.currency);
      const cap = request.cap.amountMinor;
      if (cap < 0n || cap > INT64_MAX) throw invalidField("cap.amount_minor", "must be zero or positive");
      const capFingerprint = { participant_id: participantId, "cap.currency": currency, "cap.amount_minor": cap.toString() };
      return deps.requests.once("SetNetDebitCap", request.requestId, capFingerprint, PositionSchema,
        (ledger) => positionMessage(ledger.setNetDebitCap(participantId, currency, cap), ledger));
    },

    async getPosition(participantId: string, currency: string, caller: Caller): Promise<Position> {
      requireParticipantId("participant_id", participantId);
      requireCurrency("currency", currency);
      if (caller.participantId !== participantId && caller.participantId !== "operator") {
        throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not read the position of ${participantId}`, { field: "participant_id" });
      }
      const participant = deps.participants.get(participantId);
      if (!participant) throw clearingError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, { field: "participant_id" });
      if (!participant.currencies.includes(currency) && participantId !== "operator") {
        throw clearingError("CURRENCY_NOT_ENABLED", `participant ${participantId} does not transact in ${currency}`, { field: "currency" });
      }
      return deps.engine.read((ledger) => {
        const account = ledger.accounts.get(accountKey(participantId, currency));
        return account ? positionMessage(account, ledger) : create(PositionSchema, { participantId, currency });
      });
    },
  };
}


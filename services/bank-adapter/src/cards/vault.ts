// The card vault: TokenizeCard, signed by the card's bank (the bank of the account it draws on).
// The PAN is checked (digits, length, Luhn), sealed with the data key, and from then on only the
// token and the masked PAN ("**** 4242") leave the vault; the cardholder name is sealed too.
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { CardSchema, type Card, type TokenizeCardRequest } from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import { UniqueViolationError, type Store } from "@clearmesh/store";
import { maskPan, seal, unsealText, type DataKeyRing } from "@clearmesh/trust";
import { findAccount } from "../accounts/repository.js";
import { BankError, fieldError } from "../errors.js";
import { requireSameRequest } from "../idempotency.js";
import { MAX_NAME_CHARS, requireId, requireText } from "../validation.js";
import { cardExpired, expiryProblem, panProblem } from "./pan.js";
import { findCardByRequest, insertCard, type CardRow } from "./repository.js";

export const CARD_TOKEN_PREFIX = "card_";
const CARD_TOKEN_BYTES = 24;
export const CARD_TOKEN_PATTERN = /^card_[A-Za-z0-9_-]{16,64}$/;

export interface CardVaultDeps {
  store: Store;
  dataKeys: DataKeyRing;
  now: () => number;
  logger: Logger;
}

export function createCardVault(deps: CardVaultDeps) {
  function requireSameCard(card: CardRow, request: TokenizeCardRequest): void {
    requireSameRequest("request_id", request.requestId, [
      ["account_id", card.accountId, request.accountId],
      ["pan", unsealText(deps.dataKeys, card.panSealed), request.pan],
      ["expiry_month", card.expiryMonth, request.expiryMonth],
      ["expiry_year", card.expiryYear, request.expiryYear],
      ["cardholder_name", unsealText(deps.dataKeys, card.cardholderNameSealed), request.cardholderName],
    ]);
  }

  async function tokenize(request: TokenizeCardRequest, caller: Caller): Promise<Card> {
    requireId("request_id", request.requestId);
    const account = await findAccount(deps.store, requireId("account_id", request.accountId));
    if (!account) throw new BankError("ACCOUNT_NOT_FOUND", `no account ${request.accountId}`, { field: "account_id" });
    if (caller.participantId !== account.bankId) throw new BankError("PERMISSION_DENIED", `${caller.participantId} may not issue cards on this account`);
    const problem = panProblem(request.pan);
    if (problem) throw new BankError("CARD_NUMBER_INVALID", `pan ${problem}`, { field: "pan" });
    const expiry = expiryProblem(request.expiryMonth, request.expiryYear);
    if (expiry) throw fieldError(expiry.field, expiry.problem);
    requireText("cardholder_name", request.cardholderName, MAX_NAME_CHARS);
    const nowMs = deps.now();
    if (cardExpired(request.expiryMonth, request.expiryYear, nowMs)) throw new BankError("CARD_EXPIRED", "the card has expired", { field: "expiry_year" });
    const existing = await findCardByRequest(deps.store, request.requestId);
    if (existing) {
      requireSameCard(existing, request);
      return cardMessage(existing);
    }
    const card: CardRow = {
      cardToken: CARD_TOKEN_PREFIX + randomBytes(CARD_TOKEN_BYTES).toString("base64url"), requestId: request.requestId,
      accountId: account.accountId, bankId: account.bankId, panSealed: seal(deps.dataKeys, request.pan), maskedPan: maskPan(request.pan),
      expiryMonth: request.expiryMonth, expiryYear: request.expiryYear, cardholderNameSealed: seal(deps.dataKeys, request.cardholderName),
      createdAtMs: nowMs,
    };
    try {
      await deps.store.transaction((tx) => insertCard(tx, card));
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      const raced = await findCardByRequest(deps.store, request.requestId);
      if (!raced) throw error;
      requireSameCard(raced, request);
      return cardMessage(raced);
    }
    deps.logger.info({ accountId: card.accountId, maskedPan: card.maskedPan }, "card tokenized");
    return cardMessage(card);
  }

  return { tokenize };
}

export function cardMessage(card: CardRow): Card {
  return create(CardSchema, {
    cardToken: card.cardToken, maskedPan: card.maskedPan, expiryMonth: card.expiryMonth, expiryYear: card.expiryYear,
    accountId: card.accountId, bankId: card.bankId,
  });
}

// Quotes (CreateQuote): the fee, the FX rate and provider when currencies differ, what the payer
// sends and what the payee receives, binding until expires_at for a transfer that cites the
// quote (the engine checks payer, payee, currency, amount and expiry; see transfers/service.ts).
// A quote is pricing, not ledger state: it is stored straight to the `quotes` table, idempotent
// on quote_id. A refused quote is not stored (it had no effect): asking again is priced afresh.
//
// Currencies: `amount.currency` is always the payer's (send) currency; `payee_currency` (empty =
// the same) is what the payee receives. With AMOUNT_TYPE_SEND, `amount.amount_minor` is what the
// payer sends; with AMOUNT_TYPE_RECEIVE, it is what the payee receives, in minor units of the
// payee currency.
//
// Pricing of a send amount S, all in bigint minor units:
//   fee     = feeFor(schedule, send currency, payer kind, S)   (fixed + half-up basis points)
//   net     = S − fee                                           (in the send currency)
//   receive = net                       when the currencies are the same
//           = convertMinor(net, rate)   otherwise (half-up on the payee currency's minor unit)
// A RECEIVE quote for R is the smallest S with receive(S) ≥ R, found by a binary search over
// 1..2^63−1 (at most 63 steps; receive is non-decreasing in S because the fee grows by at most
// one minor unit per unit of S); the quote states receive(S), which may exceed R by rounding.
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AmountType, ParticipantKind, ParticipantStatus, QuoteSchema, type CreateQuoteRequest, type Quote } from "@clearmesh/contracts";
import type { Caller, Logger } from "@clearmesh/runtime";
import type { Queryable, Store } from "@clearmesh/store";
import { LedgerError, type ParticipantView } from "../engine/types.js";
import { clearingError, invalidField } from "../errors.js";
import { feeFor, type FeeSchedule } from "../pricing/fees.js";
import { convertMinor, parseRate, type Rate } from "../pricing/fx.js";
import type { QuotedPricing } from "../transfers/service.js";
import { INT64_MAX, requireCurrency, requireId, requireParticipantId, requirePositiveMoney } from "../validation.js";
import type { FxRateService, StoredRate } from "./rates.js";

export interface QuoteServiceDeps {
  store: Store;
  participants: ParticipantView;
  rates: FxRateService;
  feeSchedule: FeeSchedule;
  /** How long a quote binds (QUOTE_TTL_MS). */
  quoteTtlMs: number;
  now: () => number;
  logger: Logger;
}

/** What a quote request asked for; compared field by field on a repeat of its quote_id. */
interface QuoteAsk {
  quoteId: string;
  payerId: string;
  payeeId: string;
  amountType: AmountType.SEND | AmountType.RECEIVE;
  currency: string;
  amountMinor: bigint;
  payeeCurrency: string;
  fxProviderId: string;
}

type Fingerprint = Record<string, string>;
type QuoteRow = { fingerprint: string; quote: Uint8Array; expires_at_ms: bigint };

/** What the payee receives for a send amount, and the fee on it. */
interface Priced {
  send: bigint;
  fee: bigint;
  net: bigint;
  receive: bigint;
}

export type QuoteService = ReturnType<typeof createQuoteService>;

export function createQuoteService(deps: QuoteServiceDeps) {
  /** The priced part of the quote: amounts, fee, rate and provider. */
  async function price(ask: QuoteAsk): Promise<MessageInitShape<typeof QuoteSchema>> {
    const payer = requireActive(ask.payerId, "payer_id");
    const payee = requireActive(ask.payeeId, "payee_id");
    const crossCurrency = ask.payeeCurrency !== ask.currency;
    if (!payer.currencies.includes(ask.currency)) throw new LedgerError("CURRENCY_NOT_ENABLED", `participant ${ask.payerId} does not transact in ${ask.currency}`, "amount.currency");
    if (!payee.currencies.includes(ask.payeeCurrency)) {
      throw new LedgerError("CURRENCY_NOT_ENABLED", `participant ${ask.payeeId} does not transact in ${ask.payeeCurrency}`, crossCurrency ? "payee_currency" : "amount.currency");
    }
    const provider = crossCurrency ? await chooseProvider(ask) : undefined;
    const rate: Rate | undefined = provider ? parseRate(provider.rate) : undefined;
    const payerKind = payer.kind as ParticipantKind;

    const priced = (send: bigint): Priced => {
      const fee = feeFor(deps.feeSchedule, ask.currency, payerKind, send);
      const net = send - fee;
      const receive = net <= 0n ? net : rate ? convertMinor(net, rate, ask.currency, ask.payeeCurrency) : net;
      return { send, fee, net, receive };
    };

    const result = ask.amountType === AmountType.SEND ? priced(ask.amountMinor) : smallestSendFor(ask.amountMinor, priced);
    if (result.net <= 0n) throw new LedgerError("AMOUNT_TOO_SMALL", `${result.send} does not cover the fee of ${result.fee}`, "amount.amount_minor");
    if (result.receive <= 0n) throw new LedgerError("AMOUNT_TOO_SMALL", `${result.send} converts to nothing in ${ask.payeeCurrency}`, "amount.amount_minor");
    if (result.receive > INT64_MAX) throw new LedgerError("AMOUNT_OVERFLOW", "the amount received would exceed int64", "amount.amount_minor");
    return {
      sendAmount: { currency: ask.currency, amountMinor: result.send },
      receiveAmount: { currency: ask.payeeCurrency, amountMinor: result.receive },
      fee: { currency: ask.currency, amountMinor: result.fee },
      rate: provider?.rate ?? "",
      fxProviderId: provider?.fxProviderId ?? "",
    };
  }

  function requireActive(participantId: string, field: string) {
    const participant = deps.participants.get(participantId);
    if (!participant) throw new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${participantId}`, field);
    if (participant.status !== ParticipantStatus.ACTIVE) throw new LedgerError("PARTICIPANT_INACTIVE", `participant ${participantId} is suspended`, field);
    return participant;
  }

  /** Whether a provider may convert the pair now (an FX provider, active, both currencies enabled). */
  function providerProblem(fxProviderId: string, ask: QuoteAsk): LedgerError | undefined {
    const provider = deps.participants.get(fxProviderId);
    if (!provider) return new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${fxProviderId}`, "fx_provider_id");
    if (provider.kind !== ParticipantKind.FX_PROVIDER) return new LedgerError("INVALID_ARGUMENT", `participant ${fxProviderId} is not an FX provider`, "fx_provider_id");
    if (provider.status !== ParticipantStatus.ACTIVE) return new LedgerError("PARTICIPANT_INACTIVE", `participant ${fxProviderId} is suspended`, "fx_provider_id");
    for (const currency of [ask.currency, ask.payeeCurrency]) {
      if (!provider.currencies.includes(currency)) return new LedgerError("CURRENCY_NOT_ENABLED", `participant ${fxProviderId} does not transact in ${currency}`, "fx_provider_id");
    }
    return undefined;
  }

  /** The named provider, or the first by id that has a rate for the pair and may convert it. */
  async function chooseProvider(ask: QuoteAsk): Promise<StoredRate> {
    if (ask.fxProviderId) {
      const problem = providerProblem(ask.fxProviderId, ask);
      if (problem) throw problem;
      const rate = await deps.rates.find(ask.fxProviderId, ask.currency, ask.payeeCurrency);
      if (!rate) throw new LedgerError("FX_RATE_NOT_FOUND", `${ask.fxProviderId} has no rate from ${ask.currency} to ${ask.payeeCurrency}`, "fx_provider_id");
      return rate;
    }
    const candidates = await deps.rates.forPair(ask.currency, ask.payeeCurrency);
    const chosen = candidates.find((candidate) => !providerProblem(candidate.fxProviderId, ask));
    if (!chosen) throw new LedgerError("FX_RATE_NOT_FOUND", `no FX provider has a rate from ${ask.currency} to ${ask.payeeCurrency}`, "payee_currency");
    return chosen;
  }

  return {
    async createQuote(request: CreateQuoteRequest, caller: Caller): Promise<Quote> {
      const ask = validate(request);
      if (caller.participantId !== ask.payerId) {
        throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not ask quotes for ${ask.payerId}`, { field: "payer_id" });
      }
      const fingerprint = fingerprintOf(ask);
      const prior = await findQuoteRow(deps.store, ask.quoteId);
      if (prior) return answerRepeat(ask.quoteId, prior, fingerprint);

      const nowMs = deps.now();
      const expiresAtMs = nowMs + deps.quoteTtlMs;
      const quote = create(QuoteSchema, {
        quoteId: ask.quoteId, payerId: ask.payerId, payeeId: ask.payeeId, ...(await price(ask)),
        createdAt: timestampFromMs(nowMs), expiresAt: timestampFromMs(expiresAtMs),
      });
      const stored = await deps.store.execute(
        `INSERT INTO quotes (quote_id, payer_id, fingerprint, quote, expires_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (quote_id) DO NOTHING`,
        [ask.quoteId, ask.payerId, JSON.stringify(fingerprint), toBinary(QuoteSchema, quote), BigInt(expiresAtMs), BigInt(nowMs)],
      );
      if (stored.changes === 0) {
        // A racing repeat stored this id first: answer what it stored.
        const raced = await findQuoteRow(deps.store, ask.quoteId);
        if (raced) return answerRepeat(ask.quoteId, raced, fingerprint);
      }
      deps.logger.debug({ quoteId: ask.quoteId, payerId: ask.payerId, payeeId: ask.payeeId, fxProviderId: quote.fxProviderId }, "quote created");
      return quote;
    },

    /** The pricing a transfer citing the quote must match (the transfer service's findQuote). */
    async findQuote(quoteId: string): Promise<QuotedPricing | undefined> {
      const row = await findQuoteRow(deps.store, quoteId);
      if (!row) return undefined;
      const quote = fromBinary(QuoteSchema, new Uint8Array(row.quote));
      return {
        quoteId: quote.quoteId,
        payerId: quote.payerId,
        payeeId: quote.payeeId,
        currency: quote.sendAmount?.currency ?? "",
        amount: quote.sendAmount?.amountMinor ?? 0n,
        fee: quote.fee?.amountMinor ?? 0n,
        payeeCurrency: quote.receiveAmount?.currency ?? "",
        payeeAmount: quote.receiveAmount?.amountMinor ?? 0n,
        fxProviderId: quote.fxProviderId,
        rate: quote.rate,
        expiresAtMs: Number(row.expires_at_ms),
      };
    },
  };
}

/** The smallest send amount whose receive is at least `wanted`: binary search, at most 63 steps. */
function smallestSendFor(wanted: bigint, priced: (send: bigint) => Priced): Priced {
  const highest = priced(INT64_MAX);
  if (highest.receive < wanted) {
    if (highest.net <= 0n) throw new LedgerError("AMOUNT_TOO_SMALL", "no amount covers the fee", "amount.amount_minor");
    throw new LedgerError("AMOUNT_OVERFLOW", `receiving ${wanted} would need a send amount above int64`, "amount.amount_minor");
  }
  // Invariant: receive(high) >= wanted; receive(low - 1) < wanted (or low = 1).
  let low = 1n;
  let high = INT64_MAX;
  while (low < high) {
    const middle = low + (high - low) / 2n;
    if (priced(middle).receive >= wanted) high = middle;
    else low = middle + 1n;
  }
  return priced(low);
}

function validate(request: CreateQuoteRequest): QuoteAsk {
  const quoteId = requireId("quote_id", request.quoteId);
  const payerId = requireParticipantId("payer_id", request.payerId);
  const payeeId = requireParticipantId("payee_id", request.payeeId);
  if (payerId === payeeId) throw clearingError("SAME_PARTICIPANT", "payer_id and payee_id must differ", { field: "payee_id" });
  if (request.amountType !== AmountType.SEND && request.amountType !== AmountType.RECEIVE) {
    throw invalidField("amount_type", "must be AMOUNT_TYPE_SEND or AMOUNT_TYPE_RECEIVE");
  }
  const amount = requirePositiveMoney("amount", request.amount);
  // SEND fixes the payer's side (amount in the payer's currency, payee_currency the target);
  // RECEIVE fixes the payee's side (amount in the payee's currency, send_currency the source).
  const receive = request.amountType === AmountType.RECEIVE;
  if (receive && request.payeeCurrency !== "" && request.payeeCurrency !== amount.currency) {
    throw invalidField("payee_currency", "must be empty or the amount's currency for AMOUNT_TYPE_RECEIVE (use send_currency)");
  }
  if (!receive && request.sendCurrency !== "" && request.sendCurrency !== amount.currency) {
    throw invalidField("send_currency", "must be empty or the amount's currency for AMOUNT_TYPE_SEND (use payee_currency)");
  }
  const currency = receive && request.sendCurrency !== "" ? requireCurrency("send_currency", request.sendCurrency) : amount.currency;
  const payeeCurrency = !receive && request.payeeCurrency !== "" ? requireCurrency("payee_currency", request.payeeCurrency) : amount.currency;
  const fxProviderId = request.fxProviderId === "" ? "" : requireParticipantId("fx_provider_id", request.fxProviderId);
  if (fxProviderId && payeeCurrency === currency) throw invalidField("fx_provider_id", "applies only when the payer's and the payee's currencies differ");
  return { quoteId, payerId, payeeId, amountType: request.amountType, currency, amountMinor: amount.amountMinor, payeeCurrency, fxProviderId };
}

/** The request as compared on a repeat; payee_currency as it applies (empty = the amount's). */
function fingerprintOf(ask: QuoteAsk): Fingerprint {
  return {
    payer_id: ask.payerId,
    payee_id: ask.payeeId,
    amount_type: AmountType[ask.amountType],
    "amount.currency": ask.amountType === AmountType.RECEIVE ? ask.payeeCurrency : ask.currency,
    send_currency: ask.currency,
    "amount.amount_minor": ask.amountMinor.toString(),
    payee_currency: ask.payeeCurrency,
    fx_provider_id: ask.fxProviderId,
  };
}

/** Same quote_id and same request: the stored quote (even once expired); else the first differing field. */
function answerRepeat(quoteId: string, prior: QuoteRow, fingerprint: Fingerprint): Quote {
  const held = JSON.parse(prior.fingerprint) as Fingerprint;
  const differing = Object.keys({ ...held, ...fingerprint }).find((key) => held[key] !== fingerprint[key]);
  if (differing) throw new LedgerError("IDEMPOTENCY_CONFLICT", `quote ${quoteId} was first asked with a different ${differing}`, differing);
  return fromBinary(QuoteSchema, new Uint8Array(prior.quote));
}

async function findQuoteRow(db: Queryable, quoteId: string): Promise<QuoteRow | undefined> {
  const [row] = await db.query<QuoteRow>("SELECT fingerprint, quote, expires_at_ms FROM quotes WHERE quote_id = $1", [quoteId]);
  return row;
}

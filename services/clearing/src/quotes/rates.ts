// FX rates set by the operator, one per FX provider and currency pair (SetFxRate). Rates are
// configuration, not ledger state: they are written straight to the store, each change in one
// transaction with its idempotency record in `requests` (method "SetFxRate"), so a repeat of a
// request_id answers what the first call answered, and a refusal stays refused (PROTOCOL.md §9).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { FxRateSchema, ParticipantKind, type FxRate, type SetFxRateRequest } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Queryable, Store } from "@clearmesh/store";
import { LedgerError, type ParticipantView } from "../engine/types.js";
import { invalidField, type ClearingReason } from "../errors.js";
import { formatRate, parseRate } from "../pricing/fx.js";
import { requireCurrency, requireId, requireParticipantId } from "../validation.js";

const METHOD = "SetFxRate";

export interface FxRateServiceDeps {
  store: Store;
  participants: ParticipantView;
  now: () => number;
  logger: Logger;
}

/** A stored rate: the provider converts `source` into `target` at `rate` (canonical text). */
export interface StoredRate {
  fxProviderId: string;
  rate: string;
}

type Fingerprint = Record<string, string>;
type RequestRow = { fingerprint: string; response: Uint8Array; reason: string; message: string; field: string };

/** Thrown inside a transaction that lost an insert race on its request id; the transaction rolls back. */
class LostRace extends Error {}

export type FxRateService = ReturnType<typeof createFxRateService>;

export function createFxRateService(deps: FxRateServiceDeps) {
  let queue: Promise<unknown> = Promise.resolve();
  /** Rate changes run one at a time in this process; the insert race check covers the rest. */
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const result = queue.then(work);
    queue = result.catch(() => undefined);
    return result;
  };

  /** The checks of the provider that are business refusals (stored, so they stay refused). */
  function checkProvider(fxProviderId: string, source: string, target: string): void {
    const provider = deps.participants.get(fxProviderId);
    if (!provider) throw new LedgerError("UNKNOWN_PARTICIPANT", `no participant ${fxProviderId}`, "fx_provider_id");
    if (provider.kind !== ParticipantKind.FX_PROVIDER) throw new LedgerError("INVALID_ARGUMENT", `participant ${fxProviderId} is not an FX provider`, "fx_provider_id");
    if (!provider.currencies.includes(source)) throw new LedgerError("CURRENCY_NOT_ENABLED", `participant ${fxProviderId} does not transact in ${source}`, "source_currency");
    if (!provider.currencies.includes(target)) throw new LedgerError("CURRENCY_NOT_ENABLED", `participant ${fxProviderId} does not transact in ${target}`, "target_currency");
  }

  return {
    /** SetFxRate (the handler has checked that the operator signed and this instance is active). */
    async setRate(request: SetFxRateRequest): Promise<FxRate> {
      const requestId = requireId("request_id", request.requestId);
      const fxProviderId = requireParticipantId("fx_provider_id", request.fxProviderId);
      const source = requireCurrency("source_currency", request.sourceCurrency);
      const target = requireCurrency("target_currency", request.targetCurrency);
      if (source === target) throw invalidField("target_currency", "must differ from source_currency");
      let rate: string;
      try {
        rate = formatRate(parseRate(request.rate));
      } catch (error) {
        throw invalidField("rate", (error as Error).message);
      }
      // "1.50" and "1.5" are the same rate, so the same request.
      const fingerprint: Fingerprint = { fx_provider_id: fxProviderId, source_currency: source, target_currency: target, rate };

      const outcome = await serialized(async () => {
        try {
          return await deps.store.transaction(async (tx) => {
            const prior = await findRequest(tx, requestId);
            if (prior) return { answer: answerRepeat(requestId, prior, fingerprint) };
            const nowMs = deps.now();
            let refusal: LedgerError | undefined;
            try {
              checkProvider(fxProviderId, source, target);
            } catch (error) {
              if (!(error instanceof LedgerError)) throw error;
              refusal = error;
            }
            const answer = refusal ? undefined : create(FxRateSchema, {
              fxProviderId, sourceCurrency: source, targetCurrency: target, rate, updatedAt: timestampFromMs(nowMs),
            });
            const stored = await tx.execute(
              `INSERT INTO requests (method, request_id, fingerprint, response, reason, message, field, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (method, request_id) DO NOTHING`,
              [METHOD, requestId, JSON.stringify(fingerprint), answer ? toBinary(FxRateSchema, answer) : new Uint8Array(0),
                refusal?.reason ?? "", refusal?.message ?? "", refusal?.field ?? "", BigInt(nowMs)],
            );
            if (stored.changes === 0) throw new LostRace();
            if (refusal) return { refusal };
            await tx.execute(
              `INSERT INTO fx_rates (fx_provider_id, source_currency, target_currency, rate, updated_at_ms) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (fx_provider_id, source_currency, target_currency) DO UPDATE SET rate = excluded.rate, updated_at_ms = excluded.updated_at_ms`,
              [fxProviderId, source, target, rate, BigInt(nowMs)],
            );
            deps.logger.info({ requestId, fxProviderId, source, target, rate }, "fx rate set");
            return { answer: answer! };
          });
        } catch (error) {
          if (!(error instanceof LostRace)) throw error;
          // Another writer stored this id first: answer as a repeat of what it stored.
          const prior = await findRequest(deps.store, requestId);
          if (!prior) throw error;
          return { answer: answerRepeat(requestId, prior, fingerprint) };
        }
      });
      if ("refusal" in outcome) throw outcome.refusal;
      return outcome.answer;
    },

    /** The provider's rate for the pair, if it has one. */
    async find(fxProviderId: string, source: string, target: string): Promise<StoredRate | undefined> {
      const [row] = await deps.store.query<{ rate: string }>(
        "SELECT rate FROM fx_rates WHERE fx_provider_id = $1 AND source_currency = $2 AND target_currency = $3", [fxProviderId, source, target]);
      return row ? { fxProviderId, rate: row.rate } : undefined;
    },

    /** Every provider's rate for the pair, by provider id. */
    async forPair(source: string, target: string): Promise<StoredRate[]> {
      const rows = await deps.store.query<{ fx_provider_id: string; rate: string }>(
        "SELECT fx_provider_id, rate FROM fx_rates WHERE source_currency = $1 AND target_currency = $2 ORDER BY fx_provider_id", [source, target]);
      return rows.map((row) => ({ fxProviderId: row.fx_provider_id, rate: row.rate }));
    },
  };
}

/** Same id and same request: the stored answer or the stored refusal; else the first differing field. */
function answerRepeat(requestId: string, prior: RequestRow, fingerprint: Fingerprint): FxRate {
  const held = JSON.parse(prior.fingerprint) as Fingerprint;
  const differing = Object.keys({ ...held, ...fingerprint }).find((key) => held[key] !== fingerprint[key]);
  if (differing) throw new LedgerError("IDEMPOTENCY_CONFLICT", `request ${requestId} was first used with a different ${differing}`, differing);
  if (prior.reason) throw new LedgerError(prior.reason as ClearingReason, prior.message, prior.field || undefined);
  return fromBinary(FxRateSchema, new Uint8Array(prior.response));
}

async function findRequest(db: Queryable, requestId: string): Promise<RequestRow | undefined> {
  const [row] = await db.query<RequestRow>(
    "SELECT fingerprint, response, reason, message, field FROM requests WHERE method = $1 AND request_id = $2", [METHOD, requestId]);
  return row;
}

// Idempotent operator requests keyed by request_id (liquidity, caps, windows, rates): the
// same id and request answers the stored answer; a different request names the first field
// that differs; a refused request stays refused (PROTOCOL.md §9).
import { fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Queryable, Store } from "@clearmesh/store";
import type { ClearingEngine } from "./engine/engine.js";
import { RecentMemory, type StoreRead } from "./engine/recent.js";
import type { Journal, RequestRecord } from "./engine/journal.js";
import type { Ledger } from "./engine/ledger.js";
import { LedgerError } from "./engine/types.js";
import type { ClearingReason } from "./errors.js";

export type Fingerprint = Record<string, string>;

export class RequestBook {
  /** Answers a racing repeat's store read could miss (engine/recent.ts). */
  private readonly recent: RecentMemory<RequestRecord>;

  constructor(private readonly store: Store, private readonly engine: ClearingEngine) {
    this.recent = new RecentMemory(engine);
    engine.onLoaded(() => this.recent.clear());
  }

  async once<Desc extends DescMessage>(
    method: string, requestId: string, fingerprint: Fingerprint, schema: Desc,
    run: (ledger: Ledger, journal: Journal) => MessageShape<Desc>,
  ): Promise<MessageShape<Desc>> {
    const read = this.recent.beginRead();
    try {
      const stored = await findRequest(this.store, method, requestId);
      return this.apply(method, requestId, fingerprint, schema, run, stored, read);
    } finally {
      read.done();
    }
  }

  private apply<Desc extends DescMessage>(
    method: string, requestId: string, fingerprint: Fingerprint, schema: Desc,
    run: (ledger: Ledger, journal: Journal) => MessageShape<Desc>, stored: RequestRecord | undefined, read: StoreRead,
  ): Promise<MessageShape<Desc>> {
    const text = JSON.stringify(fingerprint);
    return this.engine.apply((ledger, journal) => {
      // A read begun before a reload may miss answers memory no longer holds: retry.
      if (read.stale()) throw new LedgerError("STORE_UNAVAILABLE", "clearing reloaded while this request was being read; retry with the same id");
      const prior = this.recent.get(`${method}\u0000${requestId}`) ?? stored;
      if (prior) return answerRepeat(prior, fingerprint, schema);
      try {
        const answer = run(ledger, journal);
        this.remember(journal, { requestId, method, fingerprint: text, response: toBinary(schema, answer), reason: "", message: "", field: "" });
        return answer;
      } catch (error) {
        if (error instanceof LedgerError) {
          this.remember(journal, { requestId, method, fingerprint: text, response: new Uint8Array(0), reason: error.reason, message: error.message, field: error.field ?? "" });
        }
        throw error;
      }
    });
  }

  private remember(journal: Journal, record: RequestRecord): void {
    journal.request(record);
    this.recent.set(`${record.method}\u0000${record.requestId}`, record);
  }
}

function answerRepeat<Desc extends DescMessage>(prior: RequestRecord, fingerprint: Fingerprint, schema: Desc): MessageShape<Desc> {
  const held = JSON.parse(prior.fingerprint) as Fingerprint;
  const differing = Object.keys({ ...held, ...fingerprint }).find((key) => held[key] !== fingerprint[key]);
  if (differing) throw new LedgerError("IDEMPOTENCY_CONFLICT", `request ${prior.requestId} was first used with a different ${differing}`, differing);
  if (prior.reason) throw new LedgerError(prior.reason as ClearingReason, prior.message, prior.field || undefined);
  return fromBinary(schema, prior.response);
}

async function findRequest(db: Queryable, method: string, requestId: string): Promise<RequestRecord | undefined> {
  const [row] = await db.query<{ fingerprint: string; response: Uint8Array; reason: string; message: string; field: string }>(
    "SELECT fingerprint, response, reason, message, field FROM requests WHERE method = $1 AND request_id = $2", [method, requestId]);
  return row ? { requestId, method, fingerprint: row.fingerprint, response: new Uint8Array(row.response), reason: row.reason, message: row.message, field: row.field } : undefined;
}

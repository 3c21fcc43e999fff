// The merchant registry (PROTOCOL.md §4): merchants and their Ed25519 keys, kept in the store
// and mirrored in memory, because signature verification looks keys up synchronously. Other
// instances sharing the store register merchants too, so the mirror re-reads recent rows every
// MERCHANT_REFRESH_MS (with an overlap that covers transactions committing late).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { MerchantSchema, type Merchant } from "@clearmesh/contracts";
import type { Directory, Logger } from "@clearmesh/runtime";
import type { Queryable, Store } from "@clearmesh/store";
import type { KeyLookup } from "@clearmesh/trust";

/** Rows re-read before the newest seen, so a merchant committed late is not missed. */
const REFRESH_OVERLAP_MS = 120_000;

export interface MerchantRecord {
  merchantId: string;
  name: string;
  webhookUrl: string;
  keyId: string;
  publicKey: Uint8Array;
  acquirerId: string;
  createdAtMs: number;
}

interface MerchantRow {
  merchant_id: string;
  name: string;
  webhook_url: string;
  key_id: string;
  public_key: Uint8Array;
  acquirer_id: string;
  created_at_ms: bigint;
  [column: string]: unknown;
}

function merchantFromRow(row: MerchantRow): MerchantRecord {
  return {
    merchantId: row.merchant_id, name: row.name, webhookUrl: row.webhook_url, keyId: row.key_id,
    publicKey: new Uint8Array(row.public_key), acquirerId: row.acquirer_id, createdAtMs: Number(row.created_at_ms),
  };
}

export function merchantMessage(merchant: MerchantRecord): Merchant {
  return create(MerchantSchema, {
    merchantId: merchant.merchantId, name: merchant.name, webhookUrl: merchant.webhookUrl, acquirerId: merchant.acquirerId,
    createdAt: timestampFromMs(merchant.createdAtMs), keyId: merchant.keyId,
  });
}

export async function findMerchant(db: Queryable, merchantId: string): Promise<MerchantRecord | undefined> {
  const [row] = await db.query<MerchantRow>("SELECT * FROM merchants WHERE merchant_id = $1", [merchantId]);
  return row ? merchantFromRow(row) : undefined;
}

/** Inserts a merchant unless the id exists; returns whether it was inserted. */
export async function insertMerchant(db: Queryable, merchant: MerchantRecord): Promise<boolean> {
  const { changes } = await db.execute(
    `INSERT INTO merchants (merchant_id, name, webhook_url, key_id, public_key, acquirer_id, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (merchant_id) DO NOTHING`,
    [merchant.merchantId, merchant.name, merchant.webhookUrl, merchant.keyId, Buffer.from(merchant.publicKey), merchant.acquirerId, BigInt(merchant.createdAtMs)],
  );
  return changes === 1;
}

export class MerchantRegistry {
  private readonly merchants = new Map<string, MerchantRecord>();
  private newestSeenMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly store: Store, private readonly directory: Directory, private readonly logger: Logger) {}

  /**
   * The extra key source of the call pipeline. A merchant id that is (or has since become) a
   * directory participant never verifies as a merchant.
   */
  readonly lookupKey: KeyLookup = (merchantId, keyId) => {
    if (this.directory.has(merchantId)) return undefined;
    const merchant = this.merchants.get(merchantId);
    return merchant && merchant.keyId === keyId ? { publicKey: merchant.publicKey, status: "active" } : undefined;
  };

  /** A merchant known to this instance (every merchant, within MERCHANT_REFRESH_MS). */
  get(merchantId: string): MerchantRecord | undefined {
    return this.directory.has(merchantId) ? undefined : this.merchants.get(merchantId);
  }

  /** From memory, else from the store (a merchant registered through another instance a moment ago). */
  async find(merchantId: string): Promise<MerchantRecord | undefined> {
    const known = this.merchants.get(merchantId);
    if (known) return known;
    const stored = await findMerchant(this.store, merchantId);
    if (stored) this.remember(stored);
    return stored;
  }

  remember(merchant: MerchantRecord): void {
    this.merchants.set(merchant.merchantId, merchant);
    this.newestSeenMs = Math.max(this.newestSeenMs, merchant.createdAtMs);
  }

  /** Reads merchants registered since the newest one seen (all of them the first time). */
  async refresh(): Promise<void> {
    const sinceMs = this.newestSeenMs === 0 ? 0 : this.newestSeenMs - REFRESH_OVERLAP_MS;
    const rows = await this.store.query<MerchantRow>("SELECT * FROM merchants WHERE created_at_ms >= $1", [BigInt(sinceMs)]);
    for (const row of rows) this.remember(merchantFromRow(row));
  }

  start(refreshMs: number): void {
    this.timer = setInterval(() => {
      this.refresh().catch((error: Error) => this.logger.warn({ err: error.message }, "merchant registry refresh failed; will retry"));
    }, refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

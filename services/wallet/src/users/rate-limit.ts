// Token buckets for RegisterUser: one per caller and one for all callers of the process, so
// addresses cannot be harvested quickly from ALREADY_EXISTS answers. Pure apart from the clock
// it is given; memory is bounded (the oldest callers are forgotten first).
export interface RateLimiterOptions {
  perCallerPerMinute: number;
  totalPerMinute: number;
  /** Callers remembered at once; beyond it the least recently seen is dropped. */
  maxCallers?: number;
  now: () => number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

const MINUTE_MS = 60_000;
const DEFAULT_MAX_CALLERS = 10_000;

export class RateLimiter {
  private readonly callers = new Map<string, Bucket>();
  private readonly total: Bucket;

  constructor(private readonly options: RateLimiterOptions) {
    this.total = { tokens: options.totalPerMinute, updatedAtMs: options.now() };
  }

  /** Takes one token from the caller's bucket and the shared one; false when either is empty. */
  take(caller: string): boolean {
    const nowMs = this.options.now();
    const bucket = this.callers.get(caller) ?? { tokens: this.options.perCallerPerMinute, updatedAtMs: nowMs };
    this.callers.delete(caller);
    this.callers.set(caller, bucket);
    this.evict();
    refill(bucket, this.options.perCallerPerMinute, nowMs);
    refill(this.total, this.options.totalPerMinute, nowMs);
    if (bucket.tokens < 1 || this.total.tokens < 1) return false;
    bucket.tokens -= 1;
    this.total.tokens -= 1;
    return true;
  }

  private evict(): void {
    const max = this.options.maxCallers ?? DEFAULT_MAX_CALLERS;
    for (const key of this.callers.keys()) {
      if (this.callers.size <= max) break;
      this.callers.delete(key);
    }
  }
}

function refill(bucket: Bucket, perMinute: number, nowMs: number): void {
  const elapsed = Math.max(0, nowMs - bucket.updatedAtMs);
  bucket.tokens = Math.min(perMinute, bucket.tokens + (elapsed * perMinute) / MINUTE_MS);
  bucket.updatedAtMs = nowMs;
}

/**
 * Who is calling, for the rate limit: the first X-Forwarded-For address (set by the provider's
 * proxy in front of the wallet), else the app's x-client-id header, else one shared bucket.
 */
export function callerKeyOf(header: (name: string) => string | null): string {
  const forwarded = header("x-forwarded-for")?.split(",")[0]?.trim();
  if (forwarded) return `ip:${forwarded.slice(0, 64)}`;
  const clientId = header("x-client-id")?.trim();
  if (clientId) return `client:${clientId.slice(0, 64)}`;
  return "unidentified";
}

// Every transfer id the store holds or the engine has decided since it loaded, as a Bloom
// filter: "no" is certain, "maybe" is checked against the store. A new transfer, the usual case,
// then costs no store read before the engine decides it. Sized at load for twice the ids the
// store holds (at least a million), about 16 bits per id with 7 probes: under 0.1% of new ids
// are read needlessly until the count doubles, more after (never a wrong answer).
//
// The store's ids are read in the background after the engine starts serving (a million take
// about a second): until the scan has finished every id is a "maybe", so each new transfer is
// checked against the store, as without the filter. Ids decided meanwhile are added as usual.
import type { Queryable } from "@clearmesh/store";

const PROBES = 7;
const BITS_PER_ID = 16;
const MIN_CAPACITY = 1 << 20;
/** Rows per query while loading: the scan never holds the whole table in memory. */
const SCAN_PAGE = 10_000;

export class KnownIds {
  private readonly bits: Uint32Array;
  private readonly mask: number;
  private count = 0;
  /** Whether every id the store held at load has been added (until then every answer is "maybe"). */
  private complete = false;
  private abandoned = false;

  constructor(expected: number) {
    let size = 1 << 5;
    const wanted = Math.max(MIN_CAPACITY, 2 * expected) * BITS_PER_ID;
    while (size < wanted) size *= 2;
    this.bits = new Uint32Array(size / 32);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  add(id: string): void {
    const [h1, h2] = hashes(id);
    for (let probe = 0; probe < PROBES; probe += 1) {
      const bit = (h1 + Math.imul(probe, h2)) & this.mask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count += 1;
  }

  /** Whether the store's ids have all been read (mightContain can say no). */
  get filled(): boolean {
    return this.complete;
  }

  /** False only for an id never added, once the store's ids are all in. */
  mightContain(id: string): boolean {
    if (!this.complete) return true;
    const [h1, h2] = hashes(id);
    for (let probe = 0; probe < PROBES; probe += 1) {
      const bit = (h1 + Math.imul(probe, h2)) & this.mask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** An empty filter sized for the ids in the store; fill() reads them. */
  static async sized(db: Queryable): Promise<KnownIds> {
    const [counted] = await db.query<{ n: bigint }>("SELECT (SELECT COUNT(*) FROM transfers) + (SELECT COUNT(*) FROM transfer_failures) AS n");
    return new KnownIds(Number(counted?.n ?? 0n));
  }

  /**
   * Adds every transfer id in the store (transfers and refused ids), read in pages, then says no
   * for ids never added. Resolves false when abandon() stopped it first. Rows written meanwhile
   * may or may not be read: their ids are added by the engine as it decides them.
   */
  async fill(db: Queryable): Promise<boolean> {
    for (const table of ["transfers", "transfer_failures"]) {
      let after = "";
      for (;;) {
        if (this.abandoned) return false;
        const page = await db.query<{ transfer_id: string }>(
          `SELECT transfer_id FROM ${table} WHERE transfer_id > $1 ORDER BY transfer_id LIMIT ${SCAN_PAGE}`, [after]);
        for (const row of page) this.add(row.transfer_id);
        if (page.length < SCAN_PAGE) break;
        after = page[page.length - 1]!.transfer_id;
        // A SQLite read answers at once: without this the whole scan would run before any call is served.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (this.abandoned) return false;
    this.complete = true;
    return true;
  }

  /** Stops a fill in progress (a reload builds a new filter); answers stay "maybe". */
  abandon(): void {
    this.abandoned = true;
  }

  /** A filled filter, for tests and tools that need it at once. */
  static async load(db: Queryable): Promise<KnownIds> {
    const known = await KnownIds.sized(db);
    await known.fill(db);
    return known;
  }
}

/** Two 32-bit FNV-1a style hashes of the UTF-16 code units (double hashing makes the probes). */
function hashes(id: string): [number, number] {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ id.length;
  for (let index = 0; index < id.length; index += 1) {
    const code = id.charCodeAt(index);
    h1 = Math.imul(h1 ^ code, 0x01000193);
    h2 = Math.imul(h2 ^ code, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  // An odd step visits distinct bits for every probe.
  return [h1 >>> 0, (h2 | 1) >>> 0];
}

/** `$n` placeholders rewritten for SQLite's positional `?`. */
export interface TranslatedSql {
  sql: string;
  /** For the i-th `?`, the zero-based index of the caller's parameter it binds. */
  order: number[];
  /** How many parameters the caller must pass (the highest `$n`), as PostgreSQL requires. */
  expected: number;
}

/**
 * Rewrites `$1 … $n` to `?` and records which parameter each `?` takes, so a placeholder may
 * repeat or appear out of order. Text inside '…' literals, "…" identifiers and comments is
 * copied unchanged, so a `$1` there stays literal text as it does on PostgreSQL.
 */
export function translatePlaceholders(sql: string): TranslatedSql {
  let out = "";
  const order: number[] = [];
  let i = 0;
  while (i < sql.length) {
    const skip = skipQuotedOrComment(sql, i);
    if (skip > i) {
      out += sql.slice(i, skip);
      i = skip;
      continue;
    }
    // Scanned in place (no slicing): a multi-row INSERT can carry thousands of placeholders.
    let end = i + 1;
    if (sql[i] === "$") while (end < sql.length && sql.charCodeAt(end) >= 48 && sql.charCodeAt(end) <= 57) end += 1;
    if (end > i + 1) {
      order.push(Number(sql.slice(i + 1, end)) - 1);
      out += "?";
      i = end;
      continue;
    }
    out += sql[i];
    i += 1;
  }
  if (order.some((n) => n < 0)) throw new RangeError("placeholder $0 is not valid; numbering starts at $1");
  return { sql: out, order, expected: order.reduce((highest, n) => Math.max(highest, n + 1), 0) };
}

/** Returns the index just past a literal/identifier/comment starting at i, or i if none starts there. */
function skipQuotedOrComment(sql: string, i: number): number {
  const c = sql[i];
  if (c === "'" || c === '"') {
    // A doubled quote ('it''s') just closes and reopens, so scanning to the next quote is enough.
    const end = sql.indexOf(c, i + 1);
    return end === -1 ? sql.length : end + 1;
  }
  if (c === "-" && sql[i + 1] === "-") {
    const end = sql.indexOf("\n", i);
    return end === -1 ? sql.length : end + 1;
  }
  if (c === "/" && sql[i + 1] === "*") {
    const end = sql.indexOf("*/", i + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return i;
}

/** A small LRU map: Map keeps insertion order, so re-inserting on hit makes the first key the oldest. */
export class LruCache<K, V> {
  readonly #map = new Map<K, V>();
  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.capacity) {
      const oldest = this.#map.keys().next().value as K;
      this.#map.delete(oldest);
    }
  }

  get size(): number {
    return this.#map.size;
  }
}

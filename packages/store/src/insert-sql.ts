// Multi-row INSERT texts, for writers that batch rows (clearing's batches, the outbox).

/** Row counts whose texts are kept: the sizes batches usually have. */
const CACHED_ROW_COUNTS = 64;

/** The INSERT texts of one table shape, by row count. */
export interface MultiRowInsert {
  readonly columns: readonly string[];
  /** `INSERT INTO table (columns) VALUES ($1, …), (…) tail` for `rowCount` rows. */
  sql(rowCount: number): string;
}

/**
 * The texts for inserting rows of `columns` into `table`, placeholders numbered row after row,
 * `tail` (an ON CONFLICT clause, say) at the end. Each row count's text is built once (up to 64
 * rows): no string building per batch, and a store's statement cache, keyed by the text, finds
 * it by a hash V8 has already computed. Make one per shape, once (at module level).
 */
export function multiRowInsert(table: string, columns: readonly string[], tail = ""): MultiRowInsert {
  const head = `INSERT INTO ${table} (${columns.join(", ")}) VALUES `;
  const end = tail === "" ? "" : ` ${tail}`;
  const texts: string[] = [];
  return {
    columns,
    sql(rowCount) {
      const cached = texts[rowCount];
      if (cached !== undefined) return cached;
      let next = 1;
      const tuples = Array.from({ length: rowCount }, () => `(${columns.map(() => `$${next++}`).join(", ")})`).join(", ");
      const text = head + tuples + end;
      if (rowCount <= CACHED_ROW_COUNTS) texts[rowCount] = text;
      return text;
    },
  };
}

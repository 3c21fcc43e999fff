import type { Store } from "./types.js";

/**
 * A Store that hands every call to `inner`, except the methods given in `overrides`: for
 * wrappers that change one thing (how transactions commit, what a test observes) and must keep
 * up with every method the interface gains.
 */
export function forwardingStore(inner: Store, overrides: Partial<Omit<Store, "dialect">> = {}): Store {
  return {
    dialect: inner.dialect,
    query: (sql, params) => inner.query(sql, params),
    execute: (sql, params) => inner.execute(sql, params),
    transaction: (fn, options) => inner.transaction(fn, options),
    writeBatch: (statements) => inner.writeBatch(statements),
    batchChain: () => inner.batchChain(),
    migrate: (migrations) => inner.migrate(migrations),
    close: () => inner.close(),
    ...overrides,
  };
}

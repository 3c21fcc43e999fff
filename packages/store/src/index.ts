export type { BatchChain, Dialect, Migration, OpenStoreOptions, Queryable, Row, SqlValue, Statement, Store, Transaction, TransactionOptions } from "./types.js";
export {
  BatchChainBrokenError,
  StoreClosedError,
  StoreConfigError,
  StoreError,
  StoreOverloadedError,
  TransactionAbortedError,
  UniqueViolationError,
} from "./errors.js";
export type { UniqueViolationDetails } from "./errors.js";
export { forwardingStore } from "./forwarding.js";
export { multiRowInsert } from "./insert-sql.js";
export type { MultiRowInsert } from "./insert-sql.js";
export { openStore } from "./open.js";
export { GroupCommitter, groupCommitting } from "./group-commit.js";
export type { GroupCommitterOptions, GroupCommitterStats, GroupCommittingStore } from "./group-commit.js";
export { acquireLeaderLock, waitForLeaderLock } from "./leader.js";
export type { LeaderLock, LeaderLockOptions, WaitForLeaderLockOptions } from "./lock-common.js";
export { createTestDatabase } from "./testing.js";
export type { TestDatabase } from "./testing.js";

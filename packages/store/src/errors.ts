/** Base class of every error this package raises on its own. */
export class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** openStore was given options it cannot use (the message never repeats the URL: it may hold a password). */
export class StoreConfigError extends StoreError {}

/** The store (or group committer) was closed before the call. */
export class StoreClosedError extends StoreError {}

/** A bounded queue is full; the caller should shed load or retry later. */
export class StoreOverloadedError extends StoreError {
  readonly queued: number;
  readonly limit: number;
  constructor(queued: number, limit: number) {
    super(`store queue is full (${queued} queued, limit ${limit})`);
    this.queued = queued;
    this.limit = limit;
  }
}

export interface UniqueViolationDetails {
  /** PostgreSQL constraint name, or SQLite index name when SQLite reports one. */
  constraint?: string;
  table?: string;
  /** SQLite reports the columns instead of a constraint name. */
  columns?: string[];
  cause: unknown;
}

/** A UNIQUE or PRIMARY KEY constraint rejected the write, on either engine. */
export class UniqueViolationError extends StoreError {
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly columns: readonly string[] | undefined;
  constructor(details: UniqueViolationDetails) {
    const where = details.constraint ?? details.columns?.join(", ") ?? "unknown";
    super(`unique constraint violated on ${details.table ?? "?"} (${where})`, { cause: details.cause });
    this.constraint = details.constraint;
    this.table = details.table;
    this.columns = details.columns;
  }
}

/** A statement failed earlier in this transaction, so it can only roll back; `cause` is that failure. */
export class TransactionAbortedError extends StoreError {
  constructor(cause: unknown) {
    super("transaction aborted by an earlier failed statement; it was rolled back", { cause });
  }
}

/** A batch of a BatchChain was refused unwritten because an earlier batch of the chain failed. */
export class BatchChainBrokenError extends StoreError {
  constructor(options?: ErrorOptions) {
    super("an earlier batch of this chain failed; this batch was not written", options);
  }
}

// BatchChain (types.ts) for stores that write one batch at a time: the next batch's transaction
// starts once the previous one has committed, and not at all once one has failed. SQLite's file
// stores chain on their writer thread instead (sqlite-writer.ts).
import { BatchChainBrokenError } from "./errors.js";
import type { BatchChain, Statement } from "./types.js";

export function sequentialBatchChain(writeBatch: (statements: readonly Statement[]) => Promise<void>): BatchChain {
  /** Settles when the last batch handed over has: true once it committed, false if it failed. */
  let previous: Promise<boolean> = Promise.resolve(true);
  return {
    write(statements) {
      const written = previous.then((committed) => {
        if (!committed) throw new BatchChainBrokenError();
        return writeBatch(statements);
      });
      previous = written.then(() => true, () => false);
      return written;
    },
  };
}

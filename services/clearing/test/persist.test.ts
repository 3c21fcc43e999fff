// The batch statements' texts: built once per shape and reused, numbered right at every size.
import { describe, expect, it } from "vitest";
import { batchStatements } from "../src/engine/persist.js";
import type { FrozenBatch } from "../src/engine/journal.js";

function netsBatch(count: number): FrozenBatch {
  return {
    accounts: [], transfers: [], windows: [], events: [], failures: [], requests: [], inboxDone: [], size: 0,
    windowNets: Array.from({ length: count }, (_, index) => ({ windowId: "w-1", participantId: `bank-${index}`, currency: "EUR", netMinor: BigInt(index) })),
  };
}

/** The $n placeholders of a statement, in order of appearance. */
const placeholders = (sql: string) => [...sql.matchAll(/\$(\d+)/g)].map((match) => Number(match[1]));

describe("batch statements", () => {
  it("give the same text for the same shape, numbered row after row", () => {
    const [first] = batchStatements(netsBatch(3), [], 1);
    const [again] = batchStatements(netsBatch(3), [], 2);
    expect(again!.sql).toBe(first!.sql);
    expect(placeholders(first!.sql)).toEqual(Array.from({ length: 12 }, (_, index) => index + 1));
    expect(first!.sql).toMatch(/^INSERT INTO window_nets \(window_id, participant_id, currency, net_minor\) VALUES \(\$1, \$2, \$3, \$4\), \(\$5, .* ON CONFLICT \(window_id, participant_id, currency\) DO UPDATE SET net_minor = excluded\.net_minor$/);
    expect(first!.params).toEqual(["w-1", "bank-0", "EUR", 0n, "w-1", "bank-1", "EUR", 1n, "w-1", "bank-2", "EUR", 2n]);
    expect(again!.params).toEqual(first!.params);
  });

  it("number larger batches right too, split where the parameter bound says", () => {
    const [seventy] = batchStatements(netsBatch(70), [], 1);
    expect(placeholders(seventy!.sql)).toEqual(Array.from({ length: 280 }, (_, index) => index + 1));
    expect(seventy!.params).toHaveLength(280);
    // 8,000 parameters per statement at most: 2,000 rows of four, then the rest.
    const split = batchStatements(netsBatch(2_001), [], 1);
    expect(split.map((statement) => statement.params.length)).toEqual([8_000, 4]);
    expect(placeholders(split[0]!.sql)).toHaveLength(8_000);
    expect(split[1]!.sql).toBe(batchStatements(netsBatch(1), [], 1)[0]!.sql);
    expect(split[1]!.params).toEqual(["w-1", "bank-2000", "EUR", 2000n]);
  });
});

// RecentMemory keeps a decision exactly as long as a store read could miss it.
import { describe, expect, it } from "vitest";
import { RecentMemory } from "../src/engine/recent.js";

function clock() {
  const state = { collecting: 1, committed: 0 };
  return {
    state,
    clock: { collectingBatch: () => state.collecting, committedBatch: () => state.committed },
    /** The collecting batch is cut and becomes durable. */
    commit() {
      state.committed = state.collecting;
      state.collecting += 1;
    },
  };
}

describe("RecentMemory", () => {
  it("keeps a decision until its batch is durable, then lets it go", () => {
    const { clock: batches, commit } = clock();
    const memory = new RecentMemory<string>(batches);
    memory.set("t-1", "decided");
    memory.set("t-2", "decided");
    expect(memory.get("t-1")).toBe("decided");
    commit(); // batch 1 durable: the store answers for t-1 and t-2 from now on
    memory.set("t-3", "decided"); // in batch 2
    expect([memory.get("t-1"), memory.get("t-2"), memory.get("t-3")]).toEqual([undefined, undefined, "decided"]);
    expect(memory.size).toBe(1);
  });

  it("keeps what a read in progress could have missed until that read is applied", () => {
    const { clock: batches, commit } = clock();
    const memory = new RecentMemory<string>(batches);
    memory.set("t-1", "decided"); // batch 1, not durable
    const slowRead = memory.beginRead(); // began before batch 1 committed: may not see t-1
    commit();
    const laterRead = memory.beginRead(); // began after: sees t-1 in the store
    memory.set("t-2", "decided");
    expect(memory.get("t-1")).toBe("decided");
    slowRead.done();
    memory.set("t-3", "decided");
    expect(memory.get("t-1")).toBeUndefined();
    expect(memory.get("t-2")).toBe("decided"); // batch 2 is not durable yet
    laterRead.done();
    commit();
    memory.set("t-4", "decided");
    expect([memory.get("t-2"), memory.get("t-3"), memory.get("t-4")]).toEqual([undefined, undefined, "decided"]);
  });

  it("marks reads begun before a reload as stale", () => {
    const { clock: batches } = clock();
    const memory = new RecentMemory<string>(batches);
    const before = memory.beginRead();
    expect(before.stale()).toBe(false);
    memory.clear();
    const after = memory.beginRead();
    expect([before.stale(), after.stale()]).toEqual([true, false]);
  });

  it("a newer decision for the same key replaces the older one and takes its batch", () => {
    const { clock: batches, commit } = clock();
    const memory = new RecentMemory<string>(batches);
    memory.set("t-1", "prepared");
    commit();
    memory.set("t-1", "committed"); // batch 2
    memory.set("t-2", "decided");
    expect(memory.get("t-1")).toBe("committed");
    memory.clear();
    expect(memory.size).toBe(0);
  });

  it("holds a bounded number of decisions under steady traffic", () => {
    const { clock: batches, commit } = clock();
    const memory = new RecentMemory<number>(batches);
    for (let index = 0; index < 10_000; index += 1) {
      const read = memory.beginRead();
      memory.set(`t-${index}`, index);
      read.done();
      if (index % 32 === 31) commit();
    }
    expect(memory.size).toBeLessThanOrEqual(64);
  });
});

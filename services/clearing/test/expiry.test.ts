// The ExpiryQueue (a min-heap of prepared transfers by expiry): pops what is due in time
// order, at most `limit` at a time, and agrees with a sorted array under random use.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ExpiryQueue } from "../src/engine/expiry.js";

describe("ExpiryQueue", () => {
  it("pops the due ids in time order, regardless of push order; at the expiry instant is due", () => {
    const queue = new ExpiryQueue();
    for (const [atMs, id] of [[50, "e"], [10, "a"], [40, "d"], [20, "b"], [30, "c"], [60, "f"]] as const) queue.push(atMs, id);
    expect(queue.size).toBe(6);
    expect(queue.popDue(9, 100)).toEqual([]);
    expect(queue.popDue(10, 100)).toEqual(["a"]);
    expect(queue.popDue(45, 100)).toEqual(["b", "c", "d"]);
    expect(queue.size).toBe(2);
    expect(queue.popDue(1_000, 100)).toEqual(["e", "f"]);
    expect(queue.size).toBe(0);
    expect(queue.popDue(1_000, 100)).toEqual([]);
  });

  it("respects the limit and leaves the rest for the next call", () => {
    const queue = new ExpiryQueue();
    for (let index = 9; index >= 0; index -= 1) queue.push(index, `t${index}`);
    expect(queue.popDue(100, 3)).toEqual(["t0", "t1", "t2"]);
    expect(queue.size).toBe(7);
    expect(queue.popDue(100, 0)).toEqual([]);
    expect(queue.size).toBe(7);
    expect(queue.popDue(4, 10)).toEqual(["t3", "t4"]);
    expect(queue.popDue(100, 10)).toEqual(["t5", "t6", "t7", "t8", "t9"]);
  });

  it("keeps entries of the same time and duplicates of an id (the caller skips finished transfers)", () => {
    const queue = new ExpiryQueue();
    queue.push(5, "x");
    queue.push(5, "y");
    queue.push(5, "x");
    expect(queue.popDue(5, 10).sort()).toEqual(["x", "x", "y"]);
  });

  it("clear empties it", () => {
    const queue = new ExpiryQueue();
    queue.push(1, "a");
    queue.push(2, "b");
    queue.clear();
    expect(queue.size).toBe(0);
    expect(queue.popDue(10, 10)).toEqual([]);
    queue.push(3, "c");
    expect(queue.popDue(10, 10)).toEqual(["c"]);
  });

  it("agrees with a sorted array under random pushes and pops (property)", () => {
    const opArb = fc.oneof(
      { weight: 3, arbitrary: fc.record({ t: fc.constant("push" as const), atMs: fc.integer({ min: 0, max: 200 }) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("pop" as const), advanceMs: fc.integer({ min: 0, max: 60 }), limit: fc.integer({ min: 0, max: 8 }) }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 150 }), (ops) => {
        const queue = new ExpiryQueue();
        let model: Array<{ atMs: number; id: string }> = [];
        let nowMs = 0;
        let counter = 0;
        const check = (popped: string[], limit: number) => {
          const due = model.filter((entry) => entry.atMs <= nowMs).sort((a, b) => a.atMs - b.atMs);
          const expectedTimes = due.slice(0, Math.max(0, limit)).map((entry) => entry.atMs);
          // Same count and the same times in the same (ascending) order; among equal times any id.
          const poppedTimes = popped.map((id) => model.find((entry) => entry.id === id)?.atMs);
          expect(poppedTimes).toEqual(expectedTimes);
          const gone = new Set(popped);
          expect(gone.size).toBe(popped.length);
          model = model.filter((entry) => !gone.has(entry.id));
          expect(queue.size).toBe(model.length);
        };
        for (const op of ops) {
          if (op.t === "push") {
            counter += 1;
            const id = `t${counter}`;
            queue.push(op.atMs, id);
            model.push({ atMs: op.atMs, id });
          } else {
            nowMs += op.advanceMs;
            check(queue.popDue(nowMs, op.limit), op.limit);
          }
        }
        nowMs = Number.MAX_SAFE_INTEGER;
        check(queue.popDue(nowMs, Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
        expect(queue.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

// bench/latencies.ts: the generator's latencies split by whether a call was in flight during one
// of the generator's own pauses. Pure arithmetic, so plain numbers stand in for a window.
import { describe, expect, it } from "vitest";
import { LatencyLog, percentile } from "../../bench/latencies.js";

function log(calls: Array<[start: number, duration: number]>): LatencyLog {
  const latencies = new LatencyLog();
  for (const [start, duration] of calls) latencies.record(start, duration);
  return latencies;
}

describe("LatencyLog", () => {
  it("keeps only the calls that no pause overlapped", () => {
    // Calls [0,5) [10,12) [20,30) [40,41); pauses [4,6) and [25,26).
    const latencies = log([[0, 5], [10, 2], [20, 10], [40, 1]]);
    const { sorted, overlapping } = latencies.outside([[25, 26], [4, 6]]);
    expect(overlapping).toBe(2);
    expect([...sorted]).toEqual([1, 2]);
    expect([...latencies.sorted()]).toEqual([1, 2, 5, 10]);
  });

  it("treats a pause that ends as a call starts, or starts as it ends, as not overlapping", () => {
    const latencies = log([[10, 5]]);
    expect(latencies.outside([[5, 10]]).overlapping).toBe(0);
    expect(latencies.outside([[15, 20]]).overlapping).toBe(0);
    expect(latencies.outside([[14.9, 20]]).overlapping).toBe(1);
    expect(latencies.outside([[5, 10.1]]).overlapping).toBe(1);
  });

  it("finds a long pause that began before earlier short ones ended (overlapping pauses merged)", () => {
    // A pause [0,100) reported with short ones [1,2) and [3,4): the call at [50,51) is inside the long one.
    const latencies = log([[50, 1], [150, 1]]);
    const { sorted, overlapping } = latencies.outside([[3, 4], [1, 2], [0, 100]]);
    expect(overlapping).toBe(1);
    expect([...sorted]).toEqual([1]);
  });

  it("ignores empty pauses and keeps every call when there is none", () => {
    const latencies = log([[0, 3], [1, 4]]);
    expect(latencies.outside([[1, 1]]).overlapping).toBe(0);
    expect(latencies.outside([]).sorted.length).toBe(2);
  });

  it("grows past its first allocation without losing a call", () => {
    const latencies = new LatencyLog();
    const count = (1 << 16) + 10;
    for (let index = 0; index < count; index += 1) latencies.record(index * 10, index % 7);
    expect(latencies.count).toBe(count);
    const { sorted, overlapping } = latencies.outside([[(count - 1) * 10, (count - 1) * 10 + 1]]);
    expect(overlapping).toBe(1);
    expect(sorted.length).toBe(count - 1);
  });
});

describe("percentile", () => {
  it("takes the nearest rank, and 0 for no values", () => {
    const values = Float64Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 1)).toBe(100);
    expect(percentile(new Float64Array(0), 0.99)).toBe(0);
  });
});

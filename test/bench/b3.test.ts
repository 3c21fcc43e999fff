// bench/b3.ts: the pool of numbered intents B3's runs pay in order. An intent a run may have used
// must never be offered to a later run (it would be paid twice, or fail as already paid).
import { describe, expect, it } from "vitest";
import { IntentPool } from "../../bench/b3.js";

describe("B3's intent pool", () => {
  it("creates only what a run lacks, and offers a run what the runs before it left unpaid", () => {
    const pool = new IntentPool("p");
    expect(pool.shortfall(100)).toBe(100);
    pool.created += 100;
    const first = pool.begin();
    expect(first).toBe(0);
    pool.end(first, 60); // 60 units begun: intents 0 … 59 used
    expect(pool.unpaid()).toBe(40);
    expect(pool.shortfall(100)).toBe(60);
    pool.created += 60;
    expect(pool.begin()).toBe(60);
  });

  it("counts every intent a run could pay as used until the run ends, so a failed run's are never offered again", () => {
    const pool = new IntentPool("p");
    pool.created = 50;
    pool.begin(); // the run fails: end is never called
    expect(pool.unpaid()).toBe(0);
    expect(pool.shortfall(10)).toBe(10);
    pool.created += 10;
    expect(pool.begin()).toBe(50);
  });

  it("caps the used intents at those that exist when the generator began more units than intents (the run ran out)", () => {
    const pool = new IntentPool("p");
    pool.created = 30;
    const first = pool.begin();
    pool.end(first, 45); // 15 units failed with "no intent left"
    expect(pool.paid).toBe(30);
    expect(pool.unpaid()).toBe(0);
  });

  it("does not offer again what a later run starts after an earlier one left some unpaid", () => {
    const pool = new IntentPool("p");
    pool.created = 20;
    pool.end(pool.begin(), 5);
    const second = pool.begin();
    expect(second).toBe(5);
    pool.end(second, 0); // a run that began nothing leaves them all
    expect(pool.begin()).toBe(5);
  });
});

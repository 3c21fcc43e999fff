// The generator's latencies and the moments its own process stood still. Every call in flight
// during one of the generator's garbage-collection pauses is late by that pause, whatever the
// server did, and at 32 in flight a few such pauses a window set the p99 (docs/performance.md,
// "B1: latency"). The figures here tell that part apart; they never replace the p99 itself.

/** Every latency recorded in the window, with when each call started (performance.now(), ms). */
export class LatencyLog {
  private starts: Float64Array = new Float64Array(1 << 16);
  private durations: Float64Array = new Float64Array(1 << 16);
  count = 0;

  record(startMs: number, durationMs: number): void {
    if (this.count === this.durations.length) {
      this.starts = grown(this.starts);
      this.durations = grown(this.durations);
    }
    this.starts[this.count] = startMs;
    this.durations[this.count] = durationMs;
    this.count += 1;
  }

  /** The latencies, sorted ascending. */
  sorted(): Float64Array {
    return this.durations.slice(0, this.count).sort();
  }

  /**
   * Splits the calls by whether they were in flight during any of `pauses` ([start, end) in the
   * same clock, any order): the sorted latencies of those that were not, and how many were.
   */
  outside(pauses: ReadonlyArray<readonly [number, number]>): { sorted: Float64Array; overlapping: number } {
    const ordered = [...pauses].filter(([start, end]) => end > start).sort((a, b) => a[0] - b[0]);
    // Merged so that the ends never go backwards, which the search below needs.
    const starts: number[] = [];
    const ends: number[] = [];
    for (const [start, end] of ordered) {
      if (ends.length > 0 && start <= ends[ends.length - 1]!) ends[ends.length - 1] = Math.max(ends[ends.length - 1]!, end);
      else {
        starts.push(start);
        ends.push(end);
      }
    }
    const kept = new Float64Array(this.count);
    let keptCount = 0;
    for (let index = 0; index < this.count; index += 1) {
      const callStart = this.starts[index]!;
      const callEnd = callStart + this.durations[index]!;
      // The first pause that ends after the call started; it overlaps if it starts before the call ended.
      let low = 0;
      let high = ends.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (ends[middle]! <= callStart) low = middle + 1;
        else high = middle;
      }
      if (low < starts.length && starts[low]! < callEnd) continue;
      kept[keptCount++] = this.durations[index]!;
    }
    return { sorted: kept.slice(0, keptCount).sort(), overlapping: this.count - keptCount };
  }
}

/** The value below which `fraction` of the sorted values lie (nearest rank); 0 when empty. */
export function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

function grown(values: Float64Array): Float64Array {
  const larger = new Float64Array(values.length * 2);
  larger.set(values);
  return larger;
}

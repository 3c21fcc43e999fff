// Prepared transfers by expiry time: a binary min-heap, so the engine finds what is due
// without scanning every pending transfer. Entries of transfers finished otherwise are
// skipped when they surface.
export class ExpiryQueue {
  private readonly heap: Array<{ atMs: number; transferId: string }> = [];

  push(atMs: number, transferId: string): void {
    this.heap.push({ atMs, transferId });
    let index = this.heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.heap[parent]!.atMs <= this.heap[index]!.atMs) break;
      [this.heap[parent], this.heap[index]] = [this.heap[index]!, this.heap[parent]!];
      index = parent;
    }
  }

  /** Removes and returns the ids due at or before nowMs, at most `limit`. */
  popDue(nowMs: number, limit: number): string[] {
    const due: string[] = [];
    while (this.heap.length > 0 && this.heap[0]!.atMs <= nowMs && due.length < limit) due.push(this.pop().transferId);
    return due;
  }

  get size(): number {
    return this.heap.length;
  }

  clear(): void {
    this.heap.length = 0;
  }

  private pop(): { atMs: number; transferId: string } {
    const top = this.heap[0]!;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < this.heap.length && this.heap[left]!.atMs < this.heap[smallest]!.atMs) smallest = left;
        if (right < this.heap.length && this.heap[right]!.atMs < this.heap[smallest]!.atMs) smallest = right;
        if (smallest === index) break;
        [this.heap[smallest], this.heap[index]] = [this.heap[index]!, this.heap[smallest]!];
        index = smallest;
      }
    }
    return top;
  }
}

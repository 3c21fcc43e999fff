// Transfers decided recently, kept in memory so a repeat or a commit that races the batch
// writing them is answered from the decision, not from a store that does not show it yet.
import type { TransferFailure, TransferRecord } from "../engine/types.js";

export type Decision = TransferRecord | TransferFailure;

export function isFailure(decision: Decision): decision is TransferFailure {
  return "reason" in decision && "terms" in decision;
}

export class RecentDecisions {
  private readonly entries = new Map<string, { decision: Decision; atMs: number }>();

  constructor(private readonly retentionMs: number) {}

  get(transferId: string): Decision | undefined {
    return this.entries.get(transferId)?.decision;
  }

  set(transferId: string, decision: Decision, nowMs: number): void {
    this.entries.delete(transferId);
    this.entries.set(transferId, { decision, atMs: nowMs });
    // Insertion order is age order: drop from the oldest end.
    for (const [id, entry] of this.entries) {
      if (nowMs - entry.atMs <= this.retentionMs) break;
      this.entries.delete(id);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

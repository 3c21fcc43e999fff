// PROTOCOL.md §9: the same id with a different request fails with IDEMPOTENCY_CONFLICT naming the
// first differing field (never its value: some fields are secret).
import { BankError } from "./errors.js";

export type FieldComparison = readonly [field: string, stored: unknown, asked: unknown];

export function requireSameRequest(what: string, id: string, comparisons: readonly FieldComparison[]): void {
  const differing = comparisons.find(([, stored, asked]) => stored !== asked);
  if (differing) {
    throw new BankError("IDEMPOTENCY_CONFLICT", `${what} ${id} was first used with a different ${differing[0]}`, { field: differing[0] });
  }
}

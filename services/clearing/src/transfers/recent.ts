// What clearing decided for a transfer id: the transfer, or the refusal that keeps the id refused.
import type { TransferFailure, TransferRecord } from "../engine/types.js";

export type Decision = TransferRecord | TransferFailure;

export function isFailure(decision: Decision): decision is TransferFailure {
  return "reason" in decision && "terms" in decision;
}

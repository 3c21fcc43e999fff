// Every bank-adapter error reason and its gRPC code, in one table (PROTOCOL.md §7), and the
// reasons the settlement bank gives in clearmesh.settlement.instruction.failed events.
import { Code, rpcError, type ConnectError } from "@clearmesh/runtime";

export const bankAdapterReasons = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  PERMISSION_DENIED: Code.PermissionDenied,
  SETTLEMENT_ACCOUNT_NOT_FOUND: Code.NotFound,
} as const satisfies Record<string, Code>;

export type BankAdapterReason = keyof typeof bankAdapterReasons;

export function bankAdapterError(reason: BankAdapterReason, message: string, metadata: Record<string, string> = {}): ConnectError {
  return rpcError(bankAdapterReasons[reason], reason, message, metadata);
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): ConnectError {
  return bankAdapterError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

/** Not answered over gRPC: the prefix of a failed settlement batch's `reason` (see books.ts). */
export { settlementFailureReasons, type SettlementFailureReason } from "./settlement/books.js";

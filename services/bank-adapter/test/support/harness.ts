// The bank's domain services on a real store (SQLite in memory, or PostgreSQL) with a fake
// clearing and a clock the test moves: for the unanswered-call paths and the concurrency of the
// conditional updates, which a live mesh cannot stage on demand.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { busMigrations, outboxMigrations } from "@clearmesh/bus";
import { TransferSchema, TransferState, type Transfer } from "@clearmesh/contracts";
import { createLogger, type Caller } from "@clearmesh/runtime";
import { openStore, type Store } from "@clearmesh/store";
import { createSigningKey, generateSeed, parseDataKeys } from "@clearmesh/trust";
import { createAccountService } from "../../src/accounts/service.js";
import { createAuthorizationService } from "../../src/cards/authorizations.js";
import { createCardVault } from "../../src/cards/vault.js";
import type { ClearingGateway, ClearingOutcome } from "../../src/clearing.js";
import { createMandateService } from "../../src/mandates/service.js";
import { bankAdapterMigrations } from "../../src/migrations.js";
import { createPullService } from "../../src/pulls/service.js";

export type FakeMode =
  /** Answers like clearing. */
  | "answer"
  /** Never gets the call: no effect, no answer. */
  | "silent"
  /** Does what was asked but the answer is lost. */
  | "lost-answer"
  /** Refuses new transfers with LIQUIDITY_LIMIT_EXCEEDED. */
  | "refuse";

/** Enough of clearing for the bank: transfers by id, idempotent, with a switchable failure mode. */
export class FakeClearing implements ClearingGateway {
  readonly transfers = new Map<string, Transfer>();
  mode: FakeMode = "answer";
  readonly calls: string[] = [];

  private outcome(transfer: Transfer | undefined): ClearingOutcome {
    if (this.mode === "silent" || this.mode === "lost-answer") return { kind: "unknown", problem: "deadline exceeded" };
    if (!transfer) return { kind: "refused", reason: "TRANSFER_NOT_FOUND", message: "no such transfer", field: "transfer_id" };
    return { kind: "ok", transfer };
  }

  private record(request: { transferId?: string; payerId?: string; payeeId?: string; amount?: { currency?: string; amountMinor?: bigint }; payerReference?: string; payeeReference?: string }, state: TransferState, expiresAtMs?: number): ClearingOutcome {
    const id = request.transferId!;
    if (this.mode === "silent") return this.outcome(undefined);
    if (this.mode === "refuse" && !this.transfers.has(id)) return { kind: "refused", reason: "LIQUIDITY_LIMIT_EXCEEDED", message: "over the cap", field: "amount" };
    if (!this.transfers.has(id)) {
      this.transfers.set(id, create(TransferSchema, {
        transferId: id, payerId: request.payerId, payeeId: request.payeeId, state,
        amount: { currency: request.amount!.currency!, amountMinor: request.amount!.amountMinor! },
        fee: { currency: request.amount!.currency!, amountMinor: 0n },
        payerReference: request.payerReference, payeeReference: request.payeeReference,
        ...(expiresAtMs === undefined ? {} : { expiresAt: timestampFromMs(expiresAtMs) }),
      }));
    }
    return this.outcome(this.transfers.get(id));
  }

  async createTransfer(_bankId: string, request: Parameters<ClearingGateway["createTransfer"]>[1]): Promise<ClearingOutcome> {
    this.calls.push(`create ${request.transferId}`);
    return this.record(request, TransferState.COMMITTED);
  }

  async prepareTransfer(_bankId: string, request: Parameters<ClearingGateway["prepareTransfer"]>[1]): Promise<ClearingOutcome> {
    this.calls.push(`prepare ${request.transferId}`);
    const expiresAt = request.expiresAt as Timestamp | undefined;
    return this.record(request, TransferState.RESERVED, expiresAt ? timestampMs(expiresAt) : undefined);
  }

  async abortTransfer(_bankId: string, request: Parameters<ClearingGateway["abortTransfer"]>[1]): Promise<ClearingOutcome> {
    this.calls.push(`abort ${request.transferId}`);
    const transfer = this.transfers.get(request.transferId!);
    if (transfer && this.mode !== "silent") transfer.state = TransferState.ABORTED;
    return this.outcome(transfer);
  }

  async getTransfer(_bankId: string, transferId: string): Promise<ClearingOutcome> {
    this.calls.push(`get ${transferId}`);
    return this.outcome(this.transfers.get(transferId));
  }

  /** What the acquirer does at clearing: commit all or part of a prepared transfer. */
  commit(transferId: string, amountMinor?: bigint): void {
    const transfer = this.transfers.get(transferId)!;
    transfer.state = TransferState.COMMITTED;
    if (amountMinor !== undefined) transfer.amount = { ...transfer.amount!, amountMinor };
  }
}

export interface Harness {
  store: Store;
  clearing: FakeClearing;
  clock: { nowMs: number };
  accounts: ReturnType<typeof createAccountService>;
  mandates: ReturnType<typeof createMandateService>;
  pulls: ReturnType<typeof createPullService>;
  vault: ReturnType<typeof createCardVault>;
  authorizations: ReturnType<typeof createAuthorizationService>;
  dataKeys: ReturnType<typeof parseDataKeys>;
  notifyDataKeys: ReturnType<typeof parseDataKeys>;
  as(participantId: string): Caller;
  close(): Promise<void>;
}

export const HARNESS_CODE_TTL_MS = 60_000;
export const HARNESS_CODE_ATTEMPTS = 3;
export const HARNESS_AUTHORIZATION_TTL_MS = 3_600_000;

export async function startHarness(storeUrl = "sqlite::memory:", options: { logLines?: string[] } = {}): Promise<Harness> {
  const store = await openStore(storeUrl.startsWith("sqlite:") ? { sqlitePath: storeUrl.slice("sqlite:".length) } : { url: storeUrl });
  await store.migrate([...outboxMigrations, ...busMigrations, ...bankAdapterMigrations]);
  const clock = { nowMs: Date.UTC(2031, 2, 14, 9, 0) };
  const now = () => clock.nowMs;
  const logLines = options.logLines;
  const logger = logLines
    ? createLogger({ service: "bank-adapter-test", level: "debug", destination: { write: (line: string) => { logLines.push(line); } } })
    : createLogger({ service: "bank-adapter-test", level: process.env.CLEARMESH_TEST_LOG_LEVEL ?? "silent" });
  const dataKeys = parseDataKeys(`k1:${"11".repeat(32)}`);
  const notifyDataKeys = parseDataKeys(`n1:${"22".repeat(32)}`);
  const clearing = new FakeClearing();
  const accounts = createAccountService({ store, dataKeys, hostedBanks: new Set(["bank-a", "bank-b"]), now, logger });
  const mandates = createMandateService({
    store, accounts, identity: createSigningKey("bank-adapter", "bank-adapter-1", generateSeed()), outbox: { notify() {} }, notifyDataKeys,
    codeTtlMs: HARNESS_CODE_TTL_MS, maxCodeAttempts: HARNESS_CODE_ATTEMPTS, now, logger,
  });
  const pulls = createPullService({ store, clearing, now, logger });
  const vault = createCardVault({ store, dataKeys, now, logger });
  const authorizations = createAuthorizationService({ store, clearing, authorizationTtlMs: HARNESS_AUTHORIZATION_TTL_MS, now, logger });
  return {
    store, clearing, clock, accounts, mandates, pulls, vault, authorizations, dataKeys, notifyDataKeys,
    as: (participantId) => ({ participantId, keyId: `${participantId}-1`, nonce: "n" }),
    close: () => store.close(),
  };
}

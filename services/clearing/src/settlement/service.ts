// Settlement windows: closing (operator call or interval) atomically opens the next window and
// issues one instruction per participant and currency; the settlement bank's outcome arrives
// by event, is kept in an inbox table in the consumer's transaction, and is applied by the
// engine exactly once (OPEN → CLOSED → SETTLING → SETTLED, or FAILED naming the instructions).
import { create } from "@bufbuild/protobuf";
import {
  ListSettlementWindowsResponseSchema, SettlementInstructionsExecutedSchema, SettlementInstructionsFailedSchema, SettlementReportSchema, SettlementWindowSchema, SettlementWindowState,
  type CloseSettlementWindowRequest, type ListSettlementWindowsRequest, type ListSettlementWindowsResponse, type RetrySettlementWindowRequest,
  type SettlementReport, type SettlementWindow,
} from "@clearmesh/contracts";
import { decodePayload, startConsumer, type RunningConsumer } from "@clearmesh/bus";
import type { Caller, Directory, Logger, ServiceMetrics } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import type { NatsConnection } from "nats";
import type { ClearingEngine } from "../engine/engine.js";
import { findWindow, windowFromRow } from "../engine/load.js";
import { windowMessage } from "../engine/messages.js";
import { LedgerError, type WindowRecord } from "../engine/types.js";
import { clearingError, invalidField } from "../errors.js";
import type { RequestBook } from "../requests.js";
import { pageLimit, requireId, requireParticipantId } from "../validation.js";


export interface SettlementServiceDeps {
  store: Store;
  engine: ClearingEngine;
  requests: RequestBook;
  now: () => number;
  logger: Logger;
}

export type SettlementService = ReturnType<typeof createSettlementService>;

export function createSettlementService(deps: SettlementServiceDeps) {
  /** The window as it is after every earlier change is durable: memory for open and unsettled, else the store. */
  async function currentWindow(windowId: string): Promise<WindowRecord> {
    const inMemory = await deps.engine.read((ledger) => (ledger.openWindow.windowId === windowId ? ledger.openWindow : ledger.unsettled.get(windowId)));
    const window = inMemory ? { ...inMemory, nets: new Map(inMemory.nets) } : await findWindow(deps.store, windowId);
    if (!window) throw clearingError("WINDOW_NOT_FOUND", `no settlement window ${windowId}`, { field: "window_id" });
    return window;
  }

  return {
    close(request: CloseSettlementWindowRequest): Promise<SettlementWindow> {
      requireId("request_id", request.requestId);
      return deps.requests.once("CloseSettlementWindow", request.requestId, {}, SettlementWindowSchema, (ledger) => windowMessage(ledger.closeWindow(deps.now())));
    },

    async retry(request: RetrySettlementWindowRequest): Promise<SettlementWindow> {
      requireId("request_id", request.requestId);
      const windowId = requireId("window_id", request.windowId);
      // The ledger holds only open and unsettled windows; a settled one is in the store, and is not FAILED either.
      await deps.engine.read(() => undefined);
      const stored = await findWindow(deps.store, windowId);
      return deps.requests.once("RetrySettlementWindow", request.requestId, { window_id: windowId }, SettlementWindowSchema, (ledger) => {
        if (!ledger.unsettled.has(windowId) && (stored || ledger.openWindow.windowId === windowId)) {
          throw new LedgerError("WINDOW_NOT_FAILED", `window ${windowId} is not FAILED`, "window_id");
        }
        return windowMessage(ledger.retryWindow(windowId));
      });
    },

    async get(windowId: string): Promise<SettlementWindow> {
      return windowMessage(await currentWindow(requireId("window_id", windowId)));
    },

    async list(request: ListSettlementWindowsRequest): Promise<ListSettlementWindowsResponse> {
      const limit = pageLimit(request.page?.pageSize);
      const token = request.page?.pageToken ?? "";
      if (token !== "" && !/^\d{1,15}$/.test(token)) throw invalidField("page.page_token", "is not a token this server issued");
      const before = token === "" ? BigInt(Number.MAX_SAFE_INTEGER) : BigInt(token);
      await deps.engine.read(() => undefined);
      const stateFilter = request.state === SettlementWindowState.UNSPECIFIED ? "" : "AND state = $3";
      const params = [before, BigInt(limit + 1), ...(stateFilter ? [BigInt(request.state)] : [])];
      const rows = await deps.store.query<Parameters<typeof windowFromRow>[1]>(`SELECT * FROM windows WHERE sequence < $1 ${stateFilter} ORDER BY sequence DESC LIMIT $2`, params);
      const windows = await Promise.all(rows.slice(0, limit).map((row) => windowFromRow(deps.store, row)));
      const nextPageToken = rows.length > limit ? String(windows[windows.length - 1]!.sequence) : "";
      return create(ListSettlementWindowsResponseSchema, { windows: windows.map((window) => windowMessage(window, { withInstructions: false })), page: { nextPageToken } });
    },

    async report(windowId: string, participantId: string, caller: Caller): Promise<SettlementReport> {
      requireId("window_id", windowId);
      const subject = participantId === "" ? caller.participantId : requireParticipantId("participant_id", participantId);
      if (subject !== caller.participantId && caller.participantId !== "operator") {
        throw clearingError("PERMISSION_DENIED", `${caller.participantId} may not read the report of ${subject}`, { field: "participant_id" });
      }
      const window = windowMessage(await currentWindow(windowId));
      return create(SettlementReportSchema, {
        windowId, participantId: subject, state: window.state, closedAt: window.closedAt, settledAt: window.settledAt,
        netPositions: window.netPositions.filter((net) => net.participantId === subject),
        instructions: window.instructions.filter((instruction) => instruction.participantId === subject),
      });
    },

    /** Applies the settlement bank's outcomes waiting in the inbox, in one batch. */
    async drainInbox(): Promise<void> {
      const rows = await deps.store.query<{ event_id: string; outcome: string; window_id: string; attempt: bigint; instruction_ids: string; reason: string }>(
        "SELECT * FROM settlement_inbox ORDER BY received_at_ms, event_id LIMIT 100");
      if (rows.length === 0) return;
      await deps.engine.apply((ledger, journal) => {
        for (const row of rows) {
          if (row.outcome === "executed") ledger.settlementExecuted(row.window_id, Number(row.attempt), deps.now());
          else ledger.settlementFailed(row.window_id, Number(row.attempt), row.instruction_ids === "" ? [] : row.instruction_ids.split(","), row.reason);
          journal.inboxDone(row.event_id);
        }
      });
    },
  };
}

/** The durable consumer of the settlement bank's outcomes: it only writes the inbox. */
export async function startSettlementConsumer(options: {
  nc: NatsConnection; store: Store; directory: Directory; metrics: ServiceMetrics; logger: Logger; onStored: () => void; now: () => number;
}): Promise<RunningConsumer> {
  return startConsumer({
    nc: options.nc,
    stream: "CLEARMESH_SETTLEMENT",
    durable: "clearing-settlement-outcomes",
    filterSubjects: ["clearmesh.settlement.instruction.*"],
    store: options.store,
    logger: options.logger,
    // Only the settlement bank (the bank-adapter's identity) reports outcomes.
    keyLookup: (producer, keyId) => (producer === "bank-adapter" || producer === "clearing" ? options.directory.activePublicKey(producer, keyId) : undefined),
    onInvalid: (reason) => options.metrics.invalidEvents.inc({ consumer: "clearing-settlement-outcomes", reason }),
    onRedelivery: () => options.metrics.eventRedeliveries.inc({ consumer: "clearing-settlement-outcomes" }),
    onProcessed: () => options.onStored(),
    handler: async (event, tx) => {
      if (event.subject.endsWith(".issued")) return; // clearing's own instructions share the subject space
      if (event.producer !== "bank-adapter") return;
      const executed = event.subject.endsWith(".executed");
      const outcome = executed ? decodePayload(event, SettlementInstructionsExecutedSchema) : decodePayload(event, SettlementInstructionsFailedSchema);
      await tx.execute(
        `INSERT INTO settlement_inbox (event_id, outcome, window_id, attempt, instruction_ids, reason, received_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (event_id) DO NOTHING`,
        [event.id, executed ? "executed" : "failed", outcome.windowId, BigInt(outcome.attempt), outcome.instructionIds.join(","),
          "reason" in outcome ? outcome.reason : "", BigInt(options.now())],
      );
    },
  });
}

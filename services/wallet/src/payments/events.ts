// The wallet's durable consumers of clearing's transfer events (one filter subject each, as
// Debian's nats-server 2.9 takes one per consumer):
// - `wallet-transfer-committed`: payee = a hosted provider → complete the pending top-up of that
//   transfer (bank.ts), or else credit the user its payee_reference names (incoming.ts);
//   payer = a hosted provider → complete the pending movement of that transfer, if any (the
//   same conditional change the call's answer and the reconciler make);
// - `wallet-transfer-aborted`, `wallet-transfer-expired`: payer = a hosted provider → fail the
//   pending movement and release its hold.
// Each event is verified as clearing's and processed at most once (processed_events in the same
// transaction as its effect); each transfer changes the books at most once (conditional state
// changes and the unique (transfer_id, kind) of movements). On SQLite each consumer hands up to
// TRANSFER_EVENTS_PIPELINE events to the store at once, in stream order, so they share commits.
import { decodePayload, startConsumer, type RunningConsumer, type StartConsumerOptions, type VerifiedEvent } from "@clearmesh/bus";
import { TransferAbortedSchema, TransferCommittedSchema, TransferExpiredSchema, TransferState, type Transfer } from "@clearmesh/contracts";
import type { Directory, Logger, ServiceMetrics } from "@clearmesh/runtime";
import type { Store, Transaction } from "@clearmesh/store";
import type { Notifier } from "../notifications/notify.js";
import type { TransferBookings } from "./bookings.js";
import { creditIncoming, type IncomingDeps } from "./incoming.js";
import { completeTopUp } from "./bank.js";
import { completeOutgoing, failOutgoing, findMovementByTransfer, findOutgoingByTransfer } from "./movements.js";

export const TRANSFER_SUBJECTS = {
  committed: "clearmesh.clearing.transfer.committed",
  aborted: "clearmesh.clearing.transfer.aborted",
  expired: "clearmesh.clearing.transfer.expired",
} as const;

const STREAM = "CLEARMESH_CLEARING";
const CLEARING_PRODUCER = "clearing";
const START_RETRY_MS = { initialMs: 200, maxMs: 5_000 } as const;
/**
 * Events handled at once by each consumer (startConsumer's `pipeline`): on SQLite their
 * transactions share the group commits of the wallet's store, still applied in stream order.
 */
export const TRANSFER_EVENTS_PIPELINE = 16;

export interface TransferConsumerDeps extends IncomingDeps {
  nc: StartConsumerOptions["nc"];
  store: Store;
  directory: Directory;
  metrics: ServiceMetrics;
  hostedProviders: ReadonlySet<string>;
  notifier: Notifier;
  logger: Logger;
  /** Wakes the outbox relay after an event's transaction committed. */
  wake: () => void;
  /** Calls waiting for a committed transfer to be booked (PayPaymentIntent). */
  bookings?: TransferBookings;
}

export interface RunningTransferConsumers {
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export function startTransferConsumers(deps: TransferConsumerDeps): RunningTransferConsumers {
  const { bookings } = deps;
  /** After a committed event's transaction: a call waiting for that transfer may answer now. */
  const committedBooked = (event: VerifiedEvent) => {
    if (!bookings?.listening) return;
    const transfer = decodePayload(event, TransferCommittedSchema).transfer;
    if (transfer && deps.hostedProviders.has(transfer.payerId)) bookings.settled(transfer.transferId);
  };
  const definitions: Array<[string, string, (event: VerifiedEvent, tx: Transaction) => Promise<void>, ((event: VerifiedEvent) => void)?]> = [
    ["wallet-transfer-committed", TRANSFER_SUBJECTS.committed, (event, tx) => onCommitted(deps, decodePayload(event, TransferCommittedSchema).transfer, tx), committedBooked],
    ["wallet-transfer-aborted", TRANSFER_SUBJECTS.aborted, (event, tx) => onEnded(deps, decodePayload(event, TransferAbortedSchema).transfer, "TRANSFER_ABORTED", tx)],
    ["wallet-transfer-expired", TRANSFER_SUBJECTS.expired, (event, tx) => onEnded(deps, decodePayload(event, TransferExpiredSchema).transfer, "TRANSFER_EXPIRED", tx)],
  ];
  const running: RunningConsumer[] = [];
  let stopped = false;
  const ready = (async () => {
    // Clearing's own directory record first, so events signed by a key it added later verify.
    while (!stopped && deps.directory.get(CLEARING_PRODUCER) === undefined) await sleep(100);
    for (const [durable, subject, handler, processed] of definitions) {
      for (let attempt = 0; !stopped; attempt += 1) {
        try {
          running.push(await startConsumer({
            nc: deps.nc, store: deps.store, stream: STREAM, durable, filterSubjects: [subject], handler, logger: deps.logger, pipeline: TRANSFER_EVENTS_PIPELINE,
            keyLookup: (producer, keyId) => (producer === CLEARING_PRODUCER ? deps.directory.activePublicKey(producer, keyId) : undefined),
            onInvalid: (reason) => deps.metrics.invalidEvents.inc({ consumer: durable, reason }),
            onRedelivery: () => deps.metrics.eventRedeliveries.inc({ consumer: durable }),
            onProcessed: (event) => {
              deps.wake();
              processed?.(event);
            },
            // A repeat of an event booked before (a redelivery, or a restart): nothing changed now, but
            // the transfer is booked, so a call waiting for it may answer.
            onDuplicate: processed,
          }));
          break;
        } catch (error) {
          deps.logger.warn({ durable, err: (error as Error).message }, "could not start the consumer; retrying");
          await sleep(Math.min(START_RETRY_MS.maxMs, START_RETRY_MS.initialMs * 2 ** attempt));
        }
      }
    }
  })();
  return {
    ready,
    async stop() {
      stopped = true;
      await ready.catch(() => undefined);
      for (const consumer of running.reverse()) await consumer.stop();
    },
  };
}

export async function onCommitted(deps: TransferConsumerDeps, transfer: Transfer | undefined, tx: Transaction): Promise<void> {
  if (!transfer || transfer.state !== TransferState.COMMITTED) return;
  if (deps.hostedProviders.has(transfer.payerId)) {
    const movement = await findOutgoingByTransfer(tx, transfer.transferId);
    if (movement?.state === "pending" && movement.provider_id === transfer.payerId) {
      await completeOutgoing(tx, deps.notifier, movement, { feeMinor: transfer.fee?.amountMinor ?? 0n, committedMinor: transfer.amount?.amountMinor }, {}, deps.now());
    }
  }
  if (deps.hostedProviders.has(transfer.payeeId)) {
    const topUp = await findMovementByTransfer(tx, transfer.transferId, "top_up");
    if (topUp?.provider_id === transfer.payeeId) {
      await completeTopUp(deps, tx, topUp, transfer);
      return;
    }
    await creditIncoming(deps, tx, transfer);
  }
}

export async function onEnded(deps: TransferConsumerDeps, transfer: Transfer | undefined, reason: string, tx: Transaction): Promise<void> {
  if (!transfer || !deps.hostedProviders.has(transfer.payerId)) return;
  const movement = await findOutgoingByTransfer(tx, transfer.transferId);
  if (movement?.state === "pending" && movement.provider_id === transfer.payerId) {
    await failOutgoing(tx, deps.notifier, movement, reason, reason === "TRANSFER_EXPIRED" ? "the transfer expired before it was committed" : "the transfer was aborted", deps.now());
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

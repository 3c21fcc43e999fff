// The settlement bank's wiring to the bus: two durable consumers, each event verified (producer
// `clearing`, an active key of clearing's in the directory) and processed at most once, its
// effect and its processed_events row in one transaction, acked after commit.
//
// - `bank-adapter-liquidity` (stream CLEARMESH_CLEARING, `clearmesh.clearing.liquidity.*`):
//   deposited adds the amount to the participant's settlement account, withdrawn subtracts it.
// - `bank-adapter-settlement` (stream CLEARMESH_SETTLEMENT,
//   `clearmesh.settlement.instruction.issued`): executes a window's batch all or none (books.ts),
//   records each executed instruction id, and reports `clearmesh.settlement.instruction.executed`
//   or `.failed` through the outbox in the same transaction.
//
// Order: the two streams are consumed independently, so a batch issued right after a deposit
// may be handled before that deposit. A debit it would have covered then fails with
// INSUFFICIENT_FUNDS and nothing changes; clearing retries the window (attempt + 1, same
// instruction ids) and the retry, handled after the deposit, executes. The bank never waits for
// or reorders events itself: its books are always the effect of what it has consumed.
//
// Exactly once: the instruction id is the unit. A batch whose instructions were all executed
// before, with the same terms (redelivered, or re-issued under a new attempt), changes nothing
// and reports `executed` again for the attempt it carries, so clearing learns the outcome even if
// it missed the first report. Clearing ignores outcomes of attempts it is not waiting for.
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { buildEnvelope, decodePayload, enqueueEvent, type OutboxRelay, type StartConsumerOptions, type VerifiedEvent } from "@clearmesh/bus";
import {
  LiquidityDepositedSchema, LiquidityWithdrawnSchema, SettlementInstructionsExecutedSchema, SettlementInstructionsFailedSchema,
  SettlementInstructionsIssuedSchema, type LiquidityDeposited, type LiquidityWithdrawn, type SettlementInstructionsIssued,
} from "@clearmesh/contracts";
import type { Directory, Logger, ServiceMetrics } from "@clearmesh/runtime";
import type { Store, Transaction } from "@clearmesh/store";
import { PARTICIPANT_ID_PATTERN, type SigningKey } from "@clearmesh/trust";
import { clearingConsumerOptions, startClearingConsumers, type RunningConsumers } from "../consumers.js";
import { CURRENCY_PATTERN, INT64_MAX, batchMalformation, decideBatch, type Batch, type BatchDecision, type Books } from "./books.js";
import { addToBalance, executeBatch, executedInstructions, lockBalances } from "./repository.js";

export const SETTLEMENT_SUBJECTS = {
  liquidity: "clearmesh.clearing.liquidity.*",
  liquidityDeposited: "clearmesh.clearing.liquidity.deposited",
  liquidityWithdrawn: "clearmesh.clearing.liquidity.withdrawn",
  instructionIssued: "clearmesh.settlement.instruction.issued",
  instructionExecuted: "clearmesh.settlement.instruction.executed",
  instructionFailed: "clearmesh.settlement.instruction.failed",
} as const;

// Debian's nats-server 2.9 takes one filter subject per consumer, hence one consumer per stream.
export const LIQUIDITY_CONSUMER = { stream: "CLEARMESH_CLEARING", durable: "bank-adapter-liquidity", filterSubject: SETTLEMENT_SUBJECTS.liquidity } as const;
export const SETTLEMENT_CONSUMER = { stream: "CLEARMESH_SETTLEMENT", durable: "bank-adapter-settlement", filterSubject: SETTLEMENT_SUBJECTS.instructionIssued } as const;

/** Metric label of a signed clearing event whose payload can never be applied (logged, skipped). */
export const INVALID_PAYLOAD = "INVALID_PAYLOAD";

export interface SettlementBankDeps {
  nc: StartConsumerOptions["nc"];
  store: Store;
  directory: Directory;
  identity: SigningKey;
  outbox: OutboxRelay;
  metrics: ServiceMetrics;
  logger: Logger;
  now: () => number;
}

export type SettlementBank = RunningConsumers;

/** Starts the settlement bank's two consumers once the directory holds clearing's own record (../consumers.ts). */
export function startSettlementBank(deps: SettlementBankDeps): SettlementBank {
  return startClearingConsumers(deps, [liquidityConsumer(deps), settlementConsumer(deps)], "settlement bank");
}

function liquidityConsumer(deps: SettlementBankDeps): StartConsumerOptions {
  const { stream, durable, filterSubject } = LIQUIDITY_CONSUMER;
  return {
    ...clearingConsumerOptions(deps, durable), stream, durable, filterSubjects: [filterSubject],
    handler: (event, tx) => applyLiquidity(deps, event, tx),
  };
}

function settlementConsumer(deps: SettlementBankDeps): StartConsumerOptions {
  const { stream, durable, filterSubject } = SETTLEMENT_CONSUMER;
  return {
    ...clearingConsumerOptions(deps, durable), stream, durable, filterSubjects: [filterSubject],
    handler: (event, tx) => settleBatch(deps, event, tx),
  };
}

interface LiquidityMovement {
  requestId: string;
  participantId: string;
  currency: string;
  /** Positive for a deposit, negative for a withdrawal. */
  deltaMinor: bigint;
}

/** A deposit or withdrawal moves the participant's settlement account by its amount. */
async function applyLiquidity(deps: SettlementBankDeps, event: VerifiedEvent, tx: Transaction): Promise<void> {
  const movement = liquidityMovementOf(event);
  if (typeof movement === "string") {
    skipInvalid(deps, LIQUIDITY_CONSUMER.durable, event, movement);
    return;
  }
  if (movement === undefined) {
    deps.logger.debug({ eventId: event.id, subject: event.subject }, "liquidity event the settlement bank does not book");
    return;
  }
  const balanceMinor = await addToBalance(tx, movement.participantId, movement.currency, movement.deltaMinor);
  // Clearing lets no withdrawal exceed the free balance, so this means the books missed an event.
  if (balanceMinor < 0n) deps.logger.error({ ...movement, balanceMinor }, "settlement account below zero after a withdrawal");
  deps.logger.info({ eventId: event.id, ...movement, balanceMinor }, "settlement account moved");
}

/** The movement an event books, a problem text when its payload cannot be booked, or undefined for other liquidity events. */
function liquidityMovementOf(event: VerifiedEvent): LiquidityMovement | string | undefined {
  const sign = event.subject === SETTLEMENT_SUBJECTS.liquidityDeposited ? 1n : event.subject === SETTLEMENT_SUBJECTS.liquidityWithdrawn ? -1n : undefined;
  if (sign === undefined) return undefined;
  let message: LiquidityDeposited | LiquidityWithdrawn;
  try {
    message = sign > 0n ? decodePayload(event, LiquidityDepositedSchema) : decodePayload(event, LiquidityWithdrawnSchema);
  } catch (error) {
    return (error as Error).message;
  }
  const { requestId, participantId, amount } = message;
  if (!PARTICIPANT_ID_PATTERN.test(participantId)) return "participant_id is not a participant id";
  if (amount === undefined) return "amount is missing";
  if (!CURRENCY_PATTERN.test(amount.currency)) return "amount.currency is not an ISO 4217 code";
  if (amount.amountMinor <= 0n || amount.amountMinor > INT64_MAX) return "amount.amount_minor must be positive";
  return { requestId, participantId, currency: amount.currency, deltaMinor: sign * amount.amountMinor };
}

/** A verified clearing event that can never be applied: counted, logged, and recorded as processed. */
function skipInvalid(deps: SettlementBankDeps, durable: string, event: VerifiedEvent, problem: string): void {
  deps.metrics.invalidEvents.inc({ consumer: durable, reason: INVALID_PAYLOAD });
  deps.logger.error({ durable, eventId: event.id, type: event.type, subject: event.subject, problem }, "skipped a clearing event whose payload cannot be applied");
}

const NO_BOOKS: Books = { balances: new Map(), executed: new Map() };

/** Executes or refuses one window's batch and reports the outcome, in the consumer's transaction. */
async function settleBatch(deps: SettlementBankDeps, event: VerifiedEvent, tx: Transaction): Promise<void> {
  let message: SettlementInstructionsIssued;
  try {
    message = decodePayload(event, SettlementInstructionsIssuedSchema);
  } catch (error) {
    skipInvalid(deps, SETTLEMENT_CONSUMER.durable, event, (error as Error).message);
    return;
  }
  const batch = batchOf(message);
  // A malformed batch is refused without reading the books (it may be arbitrarily large).
  const books = batchMalformation(batch) === undefined
    ? { balances: await lockBalances(tx, batch), executed: await executedInstructions(tx, batch) }
    : NO_BOOKS;
  const decision = decideBatch(batch, books);
  if (decision.kind === "execute") await executeBatch(tx, batch, decision.changes, deps.now());
  await reportOutcome(deps, tx, batch, decision);
  deps.logger.info({
    eventId: event.id, windowId: batch.windowId, attempt: batch.attempt, instructions: batch.instructions.length, outcome: decision.kind,
    ...(decision.kind === "fail" ? { reason: decision.reason, failing: decision.failingInstructionIds } : {}),
  }, "settlement batch handled");
}

function batchOf(message: SettlementInstructionsIssued): Batch {
  return {
    windowId: message.windowId,
    attempt: message.attempt,
    // An instruction that leaves its window id empty belongs to the batch's window.
    instructions: message.instructions.map((instruction) => ({
      instructionId: instruction.instructionId,
      windowId: instruction.windowId === "" ? message.windowId : instruction.windowId,
      participantId: instruction.participantId,
      currency: instruction.currency,
      netMinor: instruction.netMinor,
    })),
  };
}

async function reportOutcome(deps: SettlementBankDeps, tx: Transaction, batch: Batch, decision: BatchDecision): Promise<void> {
  if (decision.kind === "fail") {
    await writeEvent(deps, tx, SETTLEMENT_SUBJECTS.instructionFailed, SettlementInstructionsFailedSchema, {
      windowId: batch.windowId, instructionIds: decision.failingInstructionIds, reason: decision.reason, attempt: batch.attempt,
    });
    return;
  }
  await writeEvent(deps, tx, SETTLEMENT_SUBJECTS.instructionExecuted, SettlementInstructionsExecutedSchema, {
    windowId: batch.windowId, instructionIds: batch.instructions.map((instruction) => instruction.instructionId), attempt: batch.attempt,
  });
}

/** Signs the event as the bank-adapter and writes it to the outbox in the caller's transaction. */
async function writeEvent<Desc extends DescMessage>(deps: SettlementBankDeps, tx: Transaction, subject: string, schema: Desc, message: MessageInitShape<Desc>): Promise<void> {
  const envelope = buildEnvelope(deps.identity, { subject, schema, message: create(schema, message), producedAtMs: BigInt(deps.now()) });
  await enqueueEvent(tx, envelope.bytes, envelope.id, subject);
}

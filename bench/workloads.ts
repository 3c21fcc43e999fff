// What the load generator sends. A workload makes one unit of work at a time (one signed call
// for B0/B1, a prepare + commit pair by two signers for B2, a whole wallet payment of a merchant
// intent for B3) and throws when the unit failed, so the generator can count it as an error. The
// request builder is shared with the harness, which sizes B0's echo from a real B1 call.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import {
  CommitTransferRequestSchema, CreateTransferRequestSchema, PayPaymentIntentRequestSchema, PrepareTransferRequestSchema, TransferSchema, TransferState,
  WalletTransactionSchema, WalletTransactionState, type CreateTransferRequest,
} from "@clearmesh/contracts";
import { HEADER_NONCE, fromHex, signRpcRequest, toHex, verifyRpcResponse, type SigningKey } from "@clearmesh/trust";

export const CREATE_TRANSFER = "/clearmesh.clearing.v1.ClearingService/CreateTransfer";
export const PREPARE_TRANSFER = "/clearmesh.clearing.v1.ClearingService/PrepareTransfer";
export const COMMIT_TRANSFER = "/clearmesh.clearing.v1.ClearingService/CommitTransfer";
export const PAY_PAYMENT_INTENT = "/clearmesh.wallet.v1.WalletService/PayPaymentIntent";
/** B2: how far ahead a prepared transfer expires; far beyond any unit's latency, well inside clearing's maximum. */
export const PREPARE_EXPIRY_MS = 120_000;

/** Banks registered by bench/serve-clearing.ts; payers and payees rotate among them. */
export const BENCH_BANKS = ["bank-a", "bank-b", "bank-c", "bank-d"] as const;

/** The answering service's key, for response signature checks. */
export interface ResponderKey {
  participantId: string;
  keyId: string;
  publicKeyHex: string;
}

export function responderKey(key: SigningKey): ResponderKey {
  return { participantId: key.participantId, keyId: key.keyId, publicKeyHex: toHex(key.publicKey) };
}

export interface LoadgenConfig {
  /** host:port of the gRPC port under test. */
  target: string;
  workload: WorkloadName;
  inFlight: number;
  warmupS: number;
  durationS: number;
  /** Folder with `<id>.key` seed files of the signers (clearmesh key file format). */
  keysDir: string;
  /** Participants that sign calls (and pay); payees are picked among them too. */
  signers: string[];
  /** Verify every n-th response signature (0: never, e.g. B0 whose server signs nothing). */
  verifyEvery: number;
  responder?: ResponderKey;
  /** Makes transfer ids unique across runs on one store. */
  idPrefix: string;
  deadlineMs?: number;
  /** B3 (wallet-pay-intent): what the user's app needs to pay the merchant intents created for this run. */
  payments?: WalletPaymentsConfig;
}

/** B3: the users' sessions and the merchant intents they pay, one intent per unit. */
export interface WalletPaymentsConfig {
  /** Bearer session tokens of the wallet users (from Login); unit n is paid by user n mod count. */
  sessions: string[];
  /**
   * Intent ids are `<intentPrefix>-<n, 10 digits>`; the run pays n = firstIntent, firstIntent + 1, …
   * up to (not including) endIntent, in order: created before the run, none paid yet.
   */
  intentPrefix: string;
  /** The first intent this run pays (0 if absent): earlier runs of a session paid the ones before it. */
  firstIntent?: number;
  /** One past the last intent created: the pool's size, not the number this run may pay. */
  endIntent: number;
}

export interface CallResult {
  bytes: Uint8Array;
  headers: grpc.Metadata;
}

export type RawCall = (procedure: string, bytes: Uint8Array, headers: Record<string, string>) => Promise<CallResult>;

export interface Workload {
  /** One unit of work; resolves when it completed, throws when it failed. */
  op(index: number): Promise<void>;
  /** Counters reported with the results (bytes, verified responses, …). */
  stats(): Record<string, number>;
  /** Called when the measured window starts, so counters cover only the window. */
  reset(): void;
}

export type WorkloadName = "create-transfer" | "prepare-commit" | "wallet-pay-intent";

export type WorkloadFactory = (config: LoadgenConfig, call: RawCall, signers: readonly SigningKey[]) => Workload;

export const WORKLOADS: Record<WorkloadName, WorkloadFactory> = {
  "create-transfer": createTransferWorkload,
  "prepare-commit": prepareCommitWorkload,
  "wallet-pay-intent": walletPayIntentWorkload,
};

/** The n-th CreateTransferRequest of a run: unique id, payer and payee rotating among `banks`. */
export function transferRequest(idPrefix: string, n: number, banks: readonly string[]): CreateTransferRequest {
  const count = banks.length;
  const payer = banks[n % count]!;
  // Every payer pays every other bank in turn, so no participant pair is special.
  const payee = banks[(n + 1 + (Math.floor(n / count) % (count - 1))) % count]!;
  return create(CreateTransferRequestSchema, {
    transferId: `${idPrefix}-${String(n).padStart(10, "0")}`,
    payerId: payer,
    payeeId: payee,
    amount: { currency: n % 2 === 0 ? "EUR" : "USD", amountMinor: BigInt(10_000 + (n % 5_000)) },
    payerReference: `cust-${String(n % 1_000_000).padStart(6, "0")}`,
    payeeReference: `acct-${String((n * 7) % 1_000_000).padStart(6, "0")}`,
  });
}

/** Checks a response's signature against the responder's key (PROTOCOL.md §3); false when it is not the responder's. */
function responseVerifier(config: LoadgenConfig): (procedure: string, nonce: string, result: CallResult) => boolean {
  const responderKey = config.responder ? fromHex(config.responder.publicKeyHex) : undefined;
  const lookup = (participantId: string, keyId: string) =>
    config.responder && participantId === config.responder.participantId && keyId === config.responder.keyId ? responderKey : undefined;
  return (procedure, nonce, result) => {
    const getHeader = (name: string) => {
      const values = result.headers.get(name);
      return values.length > 0 ? String(values[0]) : undefined;
    };
    return getHeader("cm-participant") === config.responder?.participantId && verifyRpcResponse(getHeader, procedure, nonce, result.bytes, lookup);
  };
}

function createTransferWorkload(config: LoadgenConfig, call: RawCall, signers: readonly SigningKey[]): Workload {
  const byId = new Map(signers.map((key) => [key.participantId, key]));
  const banks = signers.map((key) => key.participantId);
  const verify = responseVerifier(config);
  let counters = { request_bytes: 0, response_bytes: 0, verified: 0, verify_failures: 0 };
  return {
    async op(n) {
      const request = transferRequest(config.idPrefix, n, banks);
      const bytes = toBinary(CreateTransferRequestSchema, request);
      // Signed over exactly the bytes sent, as a partner does (PROTOCOL.md §3).
      const headers = signRpcRequest(byId.get(request.payerId)!, CREATE_TRANSFER, bytes);
      const result = await call(CREATE_TRANSFER, bytes, headers);
      counters.request_bytes += bytes.byteLength;
      counters.response_bytes += result.bytes.byteLength;
      if (config.verifyEvery > 0 && n % config.verifyEvery === 0) {
        if (!verify(CREATE_TRANSFER, headers[HEADER_NONCE]!, result)) {
          counters.verify_failures += 1;
          throw new Error(`response ${n} is not signed by ${config.responder?.participantId ?? "the responder"}`);
        }
        counters.verified += 1;
      }
    },
    stats: () => ({ ...counters }),
    reset() {
      counters = { request_bytes: 0, response_bytes: 0, verified: 0, verify_failures: 0 };
    },
  };
}

/**
 * B2: one unit is one two-phase transfer. The payer signs PrepareTransfer (the n-th transfer of
 * transferRequest's rotation, expiring PREPARE_EXPIRY_MS ahead, no hash lock), then the payee
 * signs CommitTransfer of the whole amount: two calls, two different signers, each signed over
 * exactly the bytes sent. One unit in `verifyEvery` has both responses' signatures checked and
 * the commit's answer decoded (it must say COMMITTED).
 */
function prepareCommitWorkload(config: LoadgenConfig, call: RawCall, signers: readonly SigningKey[]): Workload {
  const byId = new Map(signers.map((key) => [key.participantId, key]));
  const banks = signers.map((key) => key.participantId);
  const verify = responseVerifier(config);
  const fresh = () => ({ request_bytes: 0, response_bytes: 0, verified: 0, verify_failures: 0 });
  let counters = fresh();
  const check = (procedure: string, nonce: string, result: CallResult, n: number) => {
    if (verify(procedure, nonce, result)) return;
    counters.verify_failures += 1;
    throw new Error(`response ${n} to ${procedure} is not signed by ${config.responder?.participantId ?? "the responder"}`);
  };
  return {
    async op(n) {
      const { transferId, payerId, payeeId, amount, payerReference, payeeReference } = transferRequest(config.idPrefix, n, banks);
      const prepare = toBinary(PrepareTransferRequestSchema, create(PrepareTransferRequestSchema, {
        transferId, payerId, payeeId, amount, payerReference, payeeReference, expiresAt: timestampFromMs(Date.now() + PREPARE_EXPIRY_MS),
      }));
      const prepareHeaders = signRpcRequest(byId.get(payerId)!, PREPARE_TRANSFER, prepare);
      const prepared = await call(PREPARE_TRANSFER, prepare, prepareHeaders);
      const commit = toBinary(CommitTransferRequestSchema, create(CommitTransferRequestSchema, { transferId }));
      const commitHeaders = signRpcRequest(byId.get(payeeId)!, COMMIT_TRANSFER, commit);
      const committed = await call(COMMIT_TRANSFER, commit, commitHeaders);
      counters.request_bytes += prepare.byteLength + commit.byteLength;
      counters.response_bytes += prepared.bytes.byteLength + committed.bytes.byteLength;
      if (config.verifyEvery > 0 && n % config.verifyEvery === 0) {
        check(PREPARE_TRANSFER, prepareHeaders[HEADER_NONCE]!, prepared, n);
        check(COMMIT_TRANSFER, commitHeaders[HEADER_NONCE]!, committed, n);
        const state = fromBinary(TransferSchema, committed.bytes).state;
        if (state !== TransferState.COMMITTED) throw new Error(`transfer ${transferId} answered ${TransferState[state] ?? state} to its commit`);
        counters.verified += 2;
      }
    },
    stats: () => ({ ...counters }),
    reset() {
      counters = fresh();
    },
  };
}

/** B3: the id of the n-th merchant intent created for a run. */
export function intentId(prefix: string, n: number): string {
  return `${prefix}-${String(n).padStart(10, "0")}`;
}

/**
 * B3: one unit is what a user's wallet app does to pay one merchant intent: PayPaymentIntent at
 * the wallet with the user's bearer session (an end-user method: the app authenticates the person,
 * it holds no participant key; docs/wallet.md). Behind that one call the wallet reads the intent
 * at the connector, holds the amount, prepares the transfer at clearing and confirms at the
 * connector, which commits it at clearing; the unit ends with the wallet's answer, which must be
 * COMPLETED (committed and debited). The intents were created by the merchant before the run.
 */
function walletPayIntentWorkload(config: LoadgenConfig, call: RawCall): Workload {
  const payments = config.payments;
  if (!payments || payments.sessions.length === 0) throw new Error("wallet-pay-intent needs payments.sessions and payments.endIntent");
  const bearers = payments.sessions.map((token) => ({ authorization: `Bearer ${token}` }));
  const fresh = () => ({ request_bytes: 0, response_bytes: 0, completed: 0 });
  const firstIntent = payments.firstIntent ?? 0;
  let counters = fresh();
  return {
    async op(n) {
      if (firstIntent + n >= payments.endIntent) throw new Error(`no intent left: the run paid all ${Math.max(0, payments.endIntent - firstIntent)} intents left for it`);
      const request = toBinary(PayPaymentIntentRequestSchema, create(PayPaymentIntentRequestSchema, {
        requestId: `${config.idPrefix}-${String(n).padStart(10, "0")}`, paymentIntentId: intentId(payments.intentPrefix, firstIntent + n),
      }));
      const result = await call(PAY_PAYMENT_INTENT, request, bearers[n % bearers.length]!);
      counters.request_bytes += request.byteLength;
      counters.response_bytes += result.bytes.byteLength;
      const answer = fromBinary(WalletTransactionSchema, result.bytes);
      if (answer.state !== WalletTransactionState.COMPLETED) {
        throw new Error(`payment ${n} answered ${WalletTransactionState[answer.state] ?? answer.state}${answer.failureReason ? ` (${answer.failureReason})` : ""}`);
      }
      counters.completed += 1;
    },
    stats: () => ({ ...counters }),
    reset() {
      counters = fresh();
    },
  };
}

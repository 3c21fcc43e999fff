// What the load generator sends. A workload makes one unit of work at a time (one signed call
// for B0/B1; later a prepare + commit pair, or a whole wallet payment) and throws when the unit
// failed, so the generator can count it as an error. The request builder is shared with the
// harness, which sizes B0's echo from a real B1 call.
import { create, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { CreateTransferRequestSchema, type CreateTransferRequest } from "@clearmesh/contracts";
import { HEADER_NONCE, fromHex, signRpcRequest, verifyRpcResponse, type SigningKey } from "@clearmesh/trust";

export const CREATE_TRANSFER = "/clearmesh.clearing.v1.ClearingService/CreateTransfer";

/** Banks registered by bench/serve-clearing.ts; payers and payees rotate among them. */
export const BENCH_BANKS = ["bank-a", "bank-b", "bank-c", "bank-d"] as const;

/** The answering service's key, for response signature checks. */
export interface ResponderKey {
  participantId: string;
  keyId: string;
  publicKeyHex: string;
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

export type WorkloadName = "create-transfer";

export type WorkloadFactory = (config: LoadgenConfig, call: RawCall, signers: readonly SigningKey[]) => Workload;

/** Later cases (B2 prepare+commit, B3 wallet payment) add their workloads here. */
export const WORKLOADS: Record<WorkloadName, WorkloadFactory> = {
  "create-transfer": createTransferWorkload,
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

function createTransferWorkload(config: LoadgenConfig, call: RawCall, signers: readonly SigningKey[]): Workload {
  const byId = new Map(signers.map((key) => [key.participantId, key]));
  const banks = signers.map((key) => key.participantId);
  const responderKey = config.responder ? fromHex(config.responder.publicKeyHex) : undefined;
  const lookup = (participantId: string, keyId: string) =>
    config.responder && participantId === config.responder.participantId && keyId === config.responder.keyId ? responderKey : undefined;
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
        const getHeader = (name: string) => {
          const values = result.headers.get(name);
          return values.length > 0 ? String(values[0]) : undefined;
        };
        const ok = getHeader("cm-participant") === config.responder?.participantId
          && verifyRpcResponse(getHeader, CREATE_TRANSFER, headers[HEADER_NONCE]!, result.bytes, lookup);
        if (!ok) {
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

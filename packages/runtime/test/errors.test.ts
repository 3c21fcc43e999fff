// Errors on both ports: malformed and oversized requests, unimplemented methods, deadlines,
// typed handler errors with their ErrorInfo, and internal errors that leak nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  ClearingService, RegisterParticipantRequestSchema, googleRpc,
} from "@clearmesh/contracts";
import { signRpcRequest } from "@clearmesh/trust";
import type { SignedClient } from "../src/client.js";
import { STATUS_DETAILS_HEADER, errorInfo, errorInfoFromStatusBytes, errorReason } from "../src/errors.js";
import {
  CREATE_TRANSFER, GET_PARTICIPANT, GrpcCode, REGISTER_PARTICIPANT, grpcClient, rejectionOf, signingInterceptor,
  startHarness, type Harness,
} from "./fixtures.js";

interface GrpcError { code: number; details: string; message: string; metadata: { get(key: string): unknown[] } }

const RPC_TIMEOUT_MS = 1_000;
const MAX_REQUEST_BYTES = 16 * 1024;

let harness: Harness;
let grpc: SignedClient<typeof ClearingService>;
let connect: Client<typeof ClearingService>;
let grpcWeb: Client<typeof ClearingService>;

beforeAll(async () => {
  harness = await startHarness({ rpcTimeoutMs: RPC_TIMEOUT_MS, maxRequestBytes: MAX_REQUEST_BYTES });
  grpc = grpcClient(harness);
  const base = { baseUrl: harness.httpUrl, httpVersion: "1.1" as const, useBinaryFormat: true, interceptors: [signingInterceptor(harness.keys.bank)] };
  connect = createClient(ClearingService, createConnectTransport(base));
  grpcWeb = createClient(ClearingService, createGrpcWebTransport(base));
});

afterAll(async () => {
  grpc?.close();
  await harness?.close();
});

const grpcRejection = async (promise: Promise<unknown>) => (await rejectionOf(promise)) as GrpcError;
const connectRejection = async (promise: Promise<unknown>) => {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
};

/** A CreateTransferRequest whose encoding is larger than `bytes`. */
const oversized = (bytes: number) => ({
  transferId: "t-big", payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 1n }, payerReference: "x".repeat(bytes),
});

// Field 1 (length-delimited) announcing 16 bytes, followed by one: not a valid message.
const GARBAGE = new Uint8Array([0x0a, 0x10, 0x41]);

describe("malformed requests", () => {
  it("gRPC: signed garbage gets INVALID_ARGUMENT / MALFORMED_REQUEST without reaching the handler", async () => {
    const before = harness.log.count();
    const error = await grpcRejection(grpc.raw(CREATE_TRANSFER, GARBAGE, signRpcRequest(harness.keys.bank, CREATE_TRANSFER, GARBAGE)));
    expect(error.code).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(errorReason(error)).toBe("MALFORMED_REQUEST");
    expect(harness.log.count()).toBe(before);
  });

  it("Connect: signed garbage gets INVALID_ARGUMENT / MALFORMED_REQUEST without reaching the handler", async () => {
    const before = harness.log.count();
    const response = await fetch(`${harness.httpUrl}${CREATE_TRANSFER}`, {
      method: "POST", headers: { ...signRpcRequest(harness.keys.bank, CREATE_TRANSFER, GARBAGE), "content-type": "application/proto" }, body: GARBAGE,
    });
    const error = await response.json() as { code: string; details?: Array<{ type: string; value: string }> };
    expect(harness.log.count()).toBe(before);
    expect({ status: response.status, code: error.code }).toEqual({ status: 400, code: "invalid_argument" });
    const detail = error.details?.find((entry) => entry.type === "google.rpc.ErrorInfo");
    expect(detail, "the error carries an ErrorInfo detail (PROTOCOL.md §7)").toBeDefined();
    expect(fromBinary(googleRpc.ErrorInfoSchema, Buffer.from(detail!.value, "base64")).reason).toBe("MALFORMED_REQUEST");
  });
});

describe("oversized requests", () => {
  it("gRPC: a request above maxRequestBytes gets RESOURCE_EXHAUSTED", async () => {
    const before = harness.log.count();
    const error = await grpcRejection(grpc.createTransfer(oversized(MAX_REQUEST_BYTES + 100)));
    expect(error.code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(harness.log.count()).toBe(before);
  });

  it("gRPC: a request just under the limit is served", async () => {
    const transfer = await grpc.createTransfer(oversized(MAX_REQUEST_BYTES - 200));
    expect(transfer.payerReference.length).toBe(MAX_REQUEST_BYTES - 200);
  });

  it("Connect: a request above maxRequestBytes gets RESOURCE_EXHAUSTED", async () => {
    const before = harness.log.count();
    const error = await connectRejection(connect.createTransfer(oversized(MAX_REQUEST_BYTES + 100)));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(harness.log.count()).toBe(before);
  });

  it("Connect: a much larger request also gets RESOURCE_EXHAUSTED (not a reset connection)", async () => {
    const error = await connectRejection(connect.createTransfer(oversized(4 * MAX_REQUEST_BYTES)));
    expect(error.code).toBe(Code.ResourceExhausted);
  });

  it("gRPC-Web: a request above maxRequestBytes gets RESOURCE_EXHAUSTED", async () => {
    const error = await connectRejection(grpcWeb.createTransfer(oversized(MAX_REQUEST_BYTES + 100)));
    expect(error.code).toBe(Code.ResourceExhausted);
  });

  it("Connect: a request just under the limit is served", async () => {
    const transfer = await connect.createTransfer(oversized(MAX_REQUEST_BYTES - 200));
    expect(transfer.payerReference.length).toBe(MAX_REQUEST_BYTES - 200);
  });
});

describe("unimplemented methods", () => {
  const request = create(RegisterParticipantRequestSchema, { participantId: "bank-c", name: "C" });

  it("gRPC: a method the impl omits answers UNIMPLEMENTED", async () => {
    const bytes = toBinary(RegisterParticipantRequestSchema, request);
    const error = await grpcRejection(grpc.raw(REGISTER_PARTICIPANT, bytes, signRpcRequest(harness.keys.bank, REGISTER_PARTICIPANT, bytes)));
    expect(error.code).toBe(GrpcCode.UNIMPLEMENTED);
  });

  it("Connect and gRPC-Web: a method the impl omits answers UNIMPLEMENTED", async () => {
    expect((await connectRejection(connect.registerParticipant(request))).code).toBe(Code.Unimplemented);
    expect((await connectRejection(grpcWeb.registerParticipant(request))).code).toBe(Code.Unimplemented);
  });
});

describe("deadlines", () => {
  it("gRPC: a handler running past the client deadline gives DEADLINE_EXCEEDED", async () => {
    const started = Date.now();
    const error = await grpcRejection(grpc.getTransfer({ transferId: "slow-800" }, { deadlineMs: 200 }));
    expect(error.code).toBe(GrpcCode.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(700);
  });

  it("gRPC: a handler running past rpcTimeoutMs gives DEADLINE_EXCEEDED even with a long client deadline", async () => {
    const started = Date.now();
    const error = await grpcRejection(grpc.getTransfer({ transferId: `slow-${RPC_TIMEOUT_MS + 1_000}` }, { deadlineMs: 10_000 }));
    expect(error.code).toBe(GrpcCode.DEADLINE_EXCEEDED);
    expect(errorReason(error)).toBe("DEADLINE_EXCEEDED");
    expect(Date.now() - started).toBeLessThan(RPC_TIMEOUT_MS + 800);
  });

  it("Connect: a handler running past the client timeout gives DEADLINE_EXCEEDED", async () => {
    const started = Date.now();
    const error = await connectRejection(connect.getTransfer({ transferId: "slow-800" }, { timeoutMs: 200 }));
    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(700);
  });

  it("Connect: a handler running past rpcTimeoutMs gives DEADLINE_EXCEEDED when the client sets no timeout", async () => {
    const started = Date.now();
    const error = await connectRejection(connect.getTransfer({ transferId: `slow-${RPC_TIMEOUT_MS + 1_000}` }));
    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(RPC_TIMEOUT_MS + 800);
  });

  it("Connect: a client timeout longer than rpcTimeoutMs is capped, not refused (a shorter deadline wins)", async () => {
    const transfer = await connect.getTransfer({ transferId: "fast" }, { timeoutMs: RPC_TIMEOUT_MS * 10 });
    expect(transfer.transferId).toBe("fast");
  });
});

describe("handler errors", () => {
  it("gRPC: rpcError arrives with code, reason and metadata in grpc-status-details-bin", async () => {
    const error = await grpcRejection(grpc.getParticipant({ participantId: "fail-precondition" }));
    expect(error.code).toBe(GrpcCode.FAILED_PRECONDITION);
    expect(error.details).toBe("msg");
    const raw = error.metadata.get(STATUS_DETAILS_HEADER)[0];
    expect(raw).toBeInstanceOf(Uint8Array);
    const info = errorInfoFromStatusBytes(raw as Uint8Array);
    expect(info?.reason).toBe("SOME_REASON");
    expect(info?.domain).toBe("clearmesh");
    expect(info?.metadata).toEqual({ field: "x" });
    expect(errorInfo(error)?.reason).toBe("SOME_REASON");
  });

  it("Connect and gRPC-Web: rpcError arrives with code, reason and metadata", async () => {
    for (const client of [connect, grpcWeb]) {
      const error = await connectRejection(client.getParticipant({ participantId: "fail-precondition" }));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toBe("msg");
      const info = errorInfo(error);
      expect(info?.reason).toBe("SOME_REASON");
      expect(info?.domain).toBe("clearmesh");
      expect(info?.metadata).toEqual({ field: "x" });
    }
  });

  it("gRPC: a plain Error becomes INTERNAL without its message", async () => {
    const error = await grpcRejection(grpc.getParticipant({ participantId: "explode" }));
    expect(error.code).toBe(GrpcCode.INTERNAL);
    expect(error.details).not.toContain("secret");
    expect(error.message).not.toContain("secret");
    expect(errorReason(error)).toBe("INTERNAL");
  });

  it("Connect and gRPC-Web: a plain Error becomes INTERNAL without its message", async () => {
    for (const client of [connect, grpcWeb]) {
      const error = await connectRejection(client.getParticipant({ participantId: "explode" }));
      expect(error.code).toBe(Code.Internal);
      expect(error.message).not.toContain("secret");
      expect(JSON.stringify(error.details)).not.toContain("secret");
    }
    // And the raw JSON body of the Connect error says nothing either.
    const body = `{"participantId":"explode"}`;
    const response = await fetch(`${harness.httpUrl}${GET_PARTICIPANT}`, {
      method: "POST",
      headers: { ...signRpcRequest(harness.keys.bank, GET_PARTICIPANT, new TextEncoder().encode(body)), "content-type": "application/json" },
      body,
    });
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain("secret");
  });
});

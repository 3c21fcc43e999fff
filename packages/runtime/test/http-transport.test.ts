// The HTTP port: the same handlers over Connect (binary and JSON) and gRPC-Web, with request
// signatures over the bytes as received and response signatures over the binary encoding.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, fromJson, toBinary, toJsonString, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import {
  ClearingService, CreateTransferRequestSchema, GetParticipantRequestSchema, TransferSchema, googleRpc,
} from "@clearmesh/contracts";
import { HEADER_NONCE, generateNonce, signRpcRequest } from "@clearmesh/trust";
import { createSignedClient } from "../src/client.js";
import { errorInfoFromStatusBytes, errorReason } from "../src/errors.js";
import {
  CREATE_TRANSFER, GET_PARTICIPANT, fetchHeaders, frame, parseFrames, rejectionOf, signingInterceptor, startHarness,
  withPrependedUnknownField, type Harness, type SignedCallRecord,
} from "./fixtures.js";

const transferInit = (transferId: string) => ({
  transferId, payerId: "bank-a", payeeId: "bank-b", amount: { currency: "EUR", amountMinor: 500n }, payeeReference: "alias-7",
});

let harness: Harness;
const signed: SignedCallRecord[] = [];
let connect: Client<typeof ClearingService>;
let grpcWeb: Client<typeof ClearingService>;
let unsignedConnect: Client<typeof ClearingService>;
let unsignedGrpcWeb: Client<typeof ClearingService>;

beforeAll(async () => {
  harness = await startHarness();
  const interceptors = [signingInterceptor(harness.keys.bank, signed)];
  const base = { baseUrl: harness.httpUrl, httpVersion: "1.1" as const, useBinaryFormat: true };
  connect = createClient(ClearingService, createConnectTransport({ ...base, interceptors }));
  grpcWeb = createClient(ClearingService, createGrpcWebTransport({ ...base, interceptors }));
  unsignedConnect = createClient(ClearingService, createConnectTransport(base));
  unsignedGrpcWeb = createClient(ClearingService, createGrpcWebTransport(base));
});

afterAll(async () => {
  await harness?.close();
});

/** Calls through a connect client and captures the response headers. */
async function callWithHeaders<T>(call: (options: { onHeader: (headers: Headers) => void }) => Promise<T>): Promise<{ message: T; headers: Headers }> {
  let headers = new Headers();
  const message = await call({ onHeader: (received) => { headers = received; } });
  return { message, headers };
}

describe.each([
  ["Connect (binary)", () => connect],
  ["gRPC-Web", () => grpcWeb],
])("%s client", (_name, client) => {
  it("is accepted when signed, with a valid response signature bound to the nonce", async () => {
    const { message, headers } = await callWithHeaders((options) => client().createTransfer(transferInit("t-http"), options));
    expect(message.transferId).toBe("t-http");
    expect(message.windowId).toBe("bank-a");
    const last = signed.at(-1)!;
    expect(last.procedure).toBe(CREATE_TRANSFER);
    expect(headers.get("cm-participant")).toBe("clearing");
    const getHeader = (name: string) => headers.get(name) ?? undefined;
    const responseBytes = toBinary(TransferSchema, message);
    expect(harness.verifyResponse(getHeader, CREATE_TRANSFER, last.nonce, responseBytes)).toBe(true);
    expect(harness.verifyResponse(getHeader, CREATE_TRANSFER, generateNonce(), responseBytes)).toBe(false);
  });

  it("answers an unsigned call with UNAUTHENTICATED and the reason in the error details", async () => {
    const unsigned = client() === connect ? unsignedConnect : unsignedGrpcWeb;
    const before = harness.log.count();
    const error = await rejectionOf(unsigned.getParticipant({ participantId: "bank-a" }));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unauthenticated);
    expect(errorReason(error)).toBe("SIGNATURE_MISSING");
    expect(harness.log.count()).toBe(before);
  });
});

describe("exact bytes over the HTTP port", () => {
  const knownBytes = (transferId: string) => toBinary(CreateTransferRequestSchema, create(CreateTransferRequestSchema, transferInit(transferId)));

  it("Connect binary: an unknown field prepended to the signed body is accepted", async () => {
    const body = withPrependedUnknownField(knownBytes("t-unknown-connect"));
    const headers = signRpcRequest(harness.keys.bank, CREATE_TRANSFER, body);
    const response = await fetch(`${harness.httpUrl}${CREATE_TRANSFER}`, {
      method: "POST", headers: { ...headers, "content-type": "application/proto" }, body,
    });
    expect(response.status).toBe(200);
    const responseBytes = new Uint8Array(await response.arrayBuffer());
    expect(fromBinary(TransferSchema, responseBytes).transferId).toBe("t-unknown-connect");
    expect(harness.verifyResponse(fetchHeaders(response), CREATE_TRANSFER, headers[HEADER_NONCE]!, responseBytes)).toBe(true);
  });

  it("gRPC-Web: an unknown field prepended to the signed frame payload is accepted", async () => {
    const payload = withPrependedUnknownField(knownBytes("t-unknown-web"));
    const headers = signRpcRequest(harness.keys.bank, CREATE_TRANSFER, payload);
    const response = await fetch(`${harness.httpUrl}${CREATE_TRANSFER}`, {
      method: "POST", headers: { ...headers, "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, body: frame(payload),
    });
    expect(response.status).toBe(200);
    const frames = parseFrames(new Uint8Array(await response.arrayBuffer()));
    const trailer = new TextDecoder().decode(frames.find((entry) => entry.flags & 0x80)?.payload);
    expect(trailer).toMatch(/grpc-status: ?0/);
    const data = frames.find((entry) => entry.flags === 0)!;
    expect(fromBinary(TransferSchema, data.payload).transferId).toBe("t-unknown-web");
    expect(harness.verifyResponse(fetchHeaders(response), CREATE_TRANSFER, headers[HEADER_NONCE]!, data.payload)).toBe(true);
  });

  it("gRPC-Web: the signature covers the frame payload, not the whole body", async () => {
    const payload = knownBytes("t-web-frame");
    const headers = signRpcRequest(harness.keys.bank, CREATE_TRANSFER, frame(payload));
    const response = await fetch(`${harness.httpUrl}${CREATE_TRANSFER}`, {
      method: "POST", headers: { ...headers, "content-type": "application/grpc-web+proto" }, body: frame(payload),
    });
    const frames = parseFrames(new Uint8Array(await response.arrayBuffer()));
    const trailer = new TextDecoder().decode(frames.find((entry) => entry.flags & 0x80)?.payload);
    expect(trailer).toMatch(/grpc-status: ?16/);
    const details = /grpc-status-details-bin: ?(\S+)/.exec(trailer)?.[1];
    expect(details).toBeDefined();
    expect(errorInfoFromStatusBytes(Buffer.from(details!, "base64"))?.reason).toBe("BAD_SIGNATURE");
  });

  it("Connect JSON: the signature covers the JSON body as sent; the response signature covers the binary encoding", async () => {
    // Unusual but valid JSON: extra whitespace and field order differ from any re-encoding.
    const json = `{ "payeeId": "bank-b",\n  "transferId": "t-json", "payerId": "bank-a", "amount": {"currency": "EUR", "amountMinor": "500"} }`;
    const body = new TextEncoder().encode(json);
    const headers = signRpcRequest(harness.keys.bank, CREATE_TRANSFER, body);
    const response = await fetch(`${harness.httpUrl}${CREATE_TRANSFER}`, {
      method: "POST", headers: { ...headers, "content-type": "application/json" }, body,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    const transfer = fromJson(TransferSchema, (await response.json()) as JsonValue);
    expect(transfer.transferId).toBe("t-json");
    const binary = toBinary(TransferSchema, transfer);
    expect(harness.verifyResponse(fetchHeaders(response), CREATE_TRANSFER, headers[HEADER_NONCE]!, binary)).toBe(true);
    // Not over the JSON text.
    const jsonText = new TextEncoder().encode(toJsonString(TransferSchema, transfer));
    expect(harness.verifyResponse(fetchHeaders(response), CREATE_TRANSFER, headers[HEADER_NONCE]!, jsonText)).toBe(false);
  });

  it("Connect JSON: a signature over a re-encoding of the JSON body is refused", async () => {
    const json = `{"participantId":  "bank-a"}`;
    const reencoded = toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId: "bank-a" }));
    const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, reencoded);
    const response = await fetch(`${harness.httpUrl}${GET_PARTICIPANT}`, {
      method: "POST", headers: { ...headers, "content-type": "application/json" }, body: json,
    });
    expect(response.status).toBe(401);
    const error = await response.json() as { code: string; details?: Array<{ type: string; value: string }> };
    expect(error.code).toBe("unauthenticated");
    expect(error.details?.[0]?.type).toBe("google.rpc.ErrorInfo");
  });

  it("a nonce used over gRPC is refused when replayed over Connect (one replay memory per service)", async () => {
    const grpc = createSignedClient(ClearingService, { address: harness.grpcAddress });
    try {
      const body = toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId: "bank-a" }));
      const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, body);
      await grpc.raw(GET_PARTICIPANT, body, headers);
      const response = await fetch(`${harness.httpUrl}${GET_PARTICIPANT}`, {
        method: "POST", headers: { ...headers, "content-type": "application/proto" }, body,
      });
      expect(response.status).toBe(401);
      const error = await response.json() as { details?: Array<{ type: string; value: string }> };
      const info = fromBinary(googleRpc.ErrorInfoSchema, Buffer.from(error.details![0]!.value, "base64"));
      expect(info.reason).toBe("REPLAYED_NONCE");
    } finally {
      grpc.close();
    }
  });

  it("Connect JSON: an unsigned call is refused with the reason in the error details", async () => {
    const before = harness.log.count();
    const response = await fetch(`${harness.httpUrl}${GET_PARTICIPANT}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: `{"participantId":"bank-a"}`,
    });
    expect(response.status).toBe(401);
    const error = await response.json() as { code: string; details?: Array<{ type: string; value: string; debug?: { reason?: string; domain?: string } }> };
    expect(error.code).toBe("unauthenticated");
    const detail = error.details?.find((entry) => entry.type === "google.rpc.ErrorInfo");
    expect(detail).toBeDefined();
    // The detail value is the binary ErrorInfo (base64, unpadded).
    const info = fromBinary(googleRpc.ErrorInfoSchema, Buffer.from(detail!.value, "base64"));
    expect(info.reason).toBe("SIGNATURE_MISSING");
    expect(info.domain).toBe("clearmesh");
    expect(harness.log.count()).toBe(before);
  });
});

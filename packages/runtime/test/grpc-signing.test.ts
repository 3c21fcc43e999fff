// Signed calls over grpc-js (PROTOCOL.md §3): acceptance, response signatures bound to the
// request nonce, every rejection reason, nonce capacity, and unknown fields in the signed bytes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ClearingService, CreateTransferRequestSchema, GetParticipantRequestSchema, TransferSchema } from "@clearmesh/contracts";
import { HEADER_NONCE, generateNonce, signRpcRequest } from "@clearmesh/trust";
import { errorInfo, errorReason } from "../src/errors.js";
import { headerGetter } from "../src/client.js";
import {
  CREATE_TRANSFER, GET_PARTICIPANT, GrpcCode, grpcClient, rejectionOf, startHarness, withPrependedUnknownField,
  type Harness,
} from "./fixtures.js";
import { createSignedClient, type SignedClient } from "../src/client.js";

const transferRequest = (transferId = "t-1") => create(CreateTransferRequestSchema, {
  transferId, payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 12_345n }, payerReference: "acct-1",
});

let harness: Harness;
let client: SignedClient<typeof ClearingService>;

beforeAll(async () => {
  harness = await startHarness();
  client = grpcClient(harness);
});

afterAll(async () => {
  client?.close();
  await harness?.close();
});

interface GrpcError { code: number; details: string; metadata: unknown }

async function grpcRejection(promise: Promise<unknown>): Promise<GrpcError> {
  return (await rejectionOf(promise)) as GrpcError;
}

describe("signed gRPC calls", () => {
  it("accepts a signed call and the handler sees the verified caller", async () => {
    const transfer = await client.createTransfer(transferRequest());
    expect(transfer.transferId).toBe("t-1");
    expect(transfer.amount?.amountMinor).toBe(12_345n);
    // window_id carries callerOf(context) in the fake: the pipeline put the verified signer there.
    expect(transfer.windowId).toBe("bank-a");
  });

  it("signs the response with the service identity, bound to the request nonce", async () => {
    const bytes = toBinary(CreateTransferRequestSchema, transferRequest("t-sig"));
    const headers = signRpcRequest(harness.keys.bank, CREATE_TRANSFER, bytes);
    const result = await client.raw(CREATE_TRANSFER, bytes, headers);
    const getHeader = headerGetter(result.headers);
    expect(getHeader("cm-participant")).toBe("clearing");
    expect(getHeader("cm-key-id")).toBe("clearing-1");
    expect(harness.verifyResponse(getHeader, CREATE_TRANSFER, headers[HEADER_NONCE]!, result.bytes)).toBe(true);
    // Bound to this call: another nonce, another procedure or other bytes do not verify.
    expect(harness.verifyResponse(getHeader, CREATE_TRANSFER, generateNonce(), result.bytes)).toBe(false);
    expect(harness.verifyResponse(getHeader, GET_PARTICIPANT, headers[HEADER_NONCE]!, result.bytes)).toBe(false);
    const other = toBinary(TransferSchema, create(TransferSchema, { ...fromBinary(TransferSchema, result.bytes), transferId: "t-other" }));
    expect(harness.verifyResponse(getHeader, CREATE_TRANSFER, headers[HEADER_NONCE]!, other)).toBe(false);
  });

  it("the signed client refuses a response that does not verify with the keys it trusts", async () => {
    const impostor = createSignedClient(ClearingService, {
      address: harness.grpcAddress, signer: harness.keys.bank, expectedResponder: "clearing",
      // Trusts another key under clearing's key id: the real response signature cannot verify.
      responseKeys: () => harness.keys.stranger.publicKey,
    });
    try {
      const error = await rejectionOf(impostor.getParticipant({ participantId: "bank-a" }));
      expect(errorReason(error)).toBe("BAD_RESPONSE_SIGNATURE");
    } finally {
      impostor.close();
    }
  });

  it("accepts request bytes with an unknown field prepended, verified over the bytes as sent", async () => {
    const bytes = withPrependedUnknownField(toBinary(CreateTransferRequestSchema, transferRequest("t-unknown")));
    // A re-encoding moves the unknown field to the end: verifying it would fail.
    const reencoded = toBinary(CreateTransferRequestSchema, fromBinary(CreateTransferRequestSchema, bytes));
    expect(Buffer.from(reencoded).equals(Buffer.from(bytes))).toBe(false);
    const headers = signRpcRequest(harness.keys.bank, CREATE_TRANSFER, bytes);
    const result = await client.raw(CREATE_TRANSFER, bytes, headers);
    expect(fromBinary(TransferSchema, result.bytes).transferId).toBe("t-unknown");
    expect(harness.verifyResponse(headerGetter(result.headers), CREATE_TRANSFER, headers[HEADER_NONCE]!, result.bytes)).toBe(true);
  });
});

describe("rejected gRPC calls never reach the handler", () => {
  const bytes = () => toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId: "bank-a" }));

  async function expectRejected(headers: Record<string, string>, reason: string, body = bytes(), code: number = GrpcCode.UNAUTHENTICATED): Promise<void> {
    const before = harness.log.count();
    const error = await grpcRejection(client.raw(GET_PARTICIPANT, body, headers));
    expect(error.code).toBe(code);
    const info = errorInfo(error);
    expect(info?.reason).toBe(reason);
    expect(info?.domain).toBe("clearmesh");
    expect(harness.log.count()).toBe(before);
  }

  it("SIGNATURE_MISSING without cm-* headers", async () => {
    await expectRejected({}, "SIGNATURE_MISSING");
  });

  it("SIGNATURE_MISSING when one header is absent", async () => {
    const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, bytes());
    delete headers["cm-signature"];
    await expectRejected(headers, "SIGNATURE_MISSING");
  });

  it("UNKNOWN_KEY for an unknown participant and for an unknown key id", async () => {
    await expectRejected(signRpcRequest(harness.keys.stranger, GET_PARTICIPANT, bytes()), "UNKNOWN_KEY");
    const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, bytes());
    await expectRejected({ ...headers, "cm-key-id": "bank-a-9" }, "UNKNOWN_KEY");
  });

  it("KEY_REVOKED for a key the directory lists as revoked", async () => {
    await expectRejected(signRpcRequest(harness.keys.revoked, GET_PARTICIPANT, bytes()), "KEY_REVOKED");
  });

  it("STALE_TIMESTAMP outside the window, in the past and in the future", async () => {
    await expectRejected(signRpcRequest(harness.keys.bank, GET_PARTICIPANT, bytes(), { timestampMs: Date.now() - 301_000 }), "STALE_TIMESTAMP");
    await expectRejected(signRpcRequest(harness.keys.bank, GET_PARTICIPANT, bytes(), { timestampMs: Date.now() + 301_000 }), "STALE_TIMESTAMP");
  });

  it("REPLAYED_NONCE for the same signed call sent twice", async () => {
    const body = bytes();
    const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, body);
    await client.raw(GET_PARTICIPANT, body, headers);
    await expectRejected(headers, "REPLAYED_NONCE", body);
  });

  it("BAD_SIGNATURE for tampered bytes, another procedure, or a forged signature", async () => {
    const signedBytes = toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId: "bank-a" }));
    const tampered = toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId: "bank-b" }));
    await expectRejected(signRpcRequest(harness.keys.bank, GET_PARTICIPANT, signedBytes), "BAD_SIGNATURE", tampered);
    await expectRejected(signRpcRequest(harness.keys.bank, CREATE_TRANSFER, signedBytes), "BAD_SIGNATURE", signedBytes);
    // bank-a's headers with bank-z's signature.
    const forged = signRpcRequest(harness.keys.stranger, GET_PARTICIPANT, signedBytes);
    await expectRejected({ ...forged, "cm-participant": "bank-a", "cm-key-id": "bank-a-1" }, "BAD_SIGNATURE", signedBytes);
  });

  it("a replay of a rejected (tampered) call's nonce is still accepted once with the right bytes", async () => {
    // The nonce is recorded only after the signature verifies: junk cannot burn a nonce.
    const body = bytes();
    const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, body);
    await expectRejected(headers, "BAD_SIGNATURE", new Uint8Array([...body, 0x10, 0x01]));
    const result = await client.raw(GET_PARTICIPANT, body, headers);
    expect(result.bytes.length).toBeGreaterThan(0);
  });
});

describe("nonce capacity", () => {
  it("refuses a participant whose nonce memory is full with RESOURCE_EXHAUSTED", async () => {
    const small = await startHarness({ nonceCacheMaxPerParticipant: 3 });
    const smallClient = grpcClient(small);
    try {
      for (let i = 0; i < 3; i += 1) await smallClient.getParticipant({ participantId: "bank-a" });
      const calls = small.log.count();
      const error = await grpcRejection(smallClient.getParticipant({ participantId: "bank-a" }));
      expect(error.code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
      expect(errorReason(error)).toBe("NONCE_CAPACITY");
      expect(small.log.count()).toBe(calls);
    } finally {
      smallClient.close();
      await small.close();
    }
  });
});

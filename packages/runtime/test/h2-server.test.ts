// The gRPC port's own server (h2-server.ts), driven with raw HTTP/2 so that every part of the
// wire can be got wrong on purpose: methods, content types, paths, grpc-timeout, framing,
// compression, limits, cancellation, and how a health Watch ends when the server closes.
import fs from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetParticipantRequestSchema, GetTransferRequestSchema, ParticipantSchema, healthV1 } from "@clearmesh/contracts";
import { signRpcRequest } from "@clearmesh/trust";
import { errorInfoFromStatusBytes } from "../src/errors.js";
import { decodeGrpcMessage, encodeGrpcMessage, parseGrpcTimeout } from "../src/grpc-wire.js";
import { startGrpcServer, type GrpcServerCall } from "../src/h2-server.js";
import { readTlsFiles } from "../src/listening.js";
import { GET_PARTICIPANT, GET_TRANSFER, GrpcCode, frame, grpcClient, makePki, rejectionOf, sleep, startHarness, type Harness } from "./fixtures.js";

const MAX_REQUEST_BYTES = 16 * 1024;

let harness: Harness;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  harness = await startHarness({ maxRequestBytes: MAX_REQUEST_BYTES });
  session = http2.connect(`http://${harness.grpcAddress}`);
});

afterAll(async () => {
  session?.close();
  await harness?.close();
});

interface Answer {
  httpStatus: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer. */
  grpcStatus: number | undefined;
  grpcMessage: string | undefined;
  reason: string | undefined;
}

interface RawRequest {
  method?: string;
  path?: string;
  headers?: http2.OutgoingHttpHeaders;
  /** Written one after another, with `gapMs` between them. */
  chunks: Uint8Array[];
  gapMs?: number;
  /** Leave the request stream open (the answer must come without the client's end). */
  keepOpen?: boolean;
}

function rawCall(request: RawRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": request.method ?? "POST",
      ":path": request.path ?? GET_PARTICIPANT,
      "content-type": "application/grpc",
      te: "trailers",
      ...request.headers,
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const data: Buffer[] = [];
    stream.on("response", (received) => (headers = received));
    stream.on("trailers", (received) => (trailers = received));
    stream.on("data", (chunk: Buffer) => data.push(chunk));
    stream.on("error", reject);
    const settle = () => {
      const status = trailers ?? headers;
      const details = status["grpc-status-details-bin"];
      resolve({
        httpStatus: Number(headers[":status"]),
        headers,
        trailers,
        body: Buffer.concat(data),
        grpcStatus: status["grpc-status"] === undefined ? undefined : Number(status["grpc-status"]),
        grpcMessage: status["grpc-message"] === undefined ? undefined : decodeURIComponent(String(status["grpc-message"])),
        reason: typeof details === "string" ? errorInfoFromStatusBytes(Buffer.from(details, "base64"))?.reason : undefined,
      });
    };
    stream.on("close", settle);
    // The request is still open: the answer is complete once its side of the stream ends.
    if (request.keepOpen) stream.on("end", () => { settle(); stream.close(); });
    void (async () => {
      for (const [index, chunk] of request.chunks.entries()) {
        if (index > 0 && request.gapMs) await sleep(request.gapMs);
        if (stream.closed) return;
        stream.write(chunk);
      }
      if (!request.keepOpen && !stream.closed) stream.end();
    })();
  });
}

const participantRequest = (participantId = "bank-a") => toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId }));
const signed = (path: string, bytes: Uint8Array) => signRpcRequest(harness.keys.bank, path, bytes);

/** A signed GetParticipant: its headers and its message bytes. */
function getParticipant(participantId = "bank-a") {
  const bytes = participantRequest(participantId);
  return { bytes, headers: signed(GET_PARTICIPANT, bytes) };
}

const participantOf = (answer: Answer) => fromBinary(ParticipantSchema, answer.body.subarray(5));

describe("the gRPC port's server", () => {
  it("answers a signed call with headers, one message and grpc-status 0 in the trailers", async () => {
    const { bytes, headers } = getParticipant();
    const answer = await rawCall({ headers, chunks: [frame(bytes)] });
    expect(answer.httpStatus).toBe(200);
    expect(answer.headers["content-type"]).toBe("application/grpc+proto");
    expect(answer.headers["grpc-accept-encoding"]).toBe("identity,deflate,gzip");
    expect(answer.headers["cm-signature"]).toBeTypeOf("string");
    expect(answer.trailers?.["grpc-status"]).toBe("0");
    expect(answer.body.readUInt32BE(1)).toBe(answer.body.length - 5);
    expect(participantOf(answer).participantId).toBe("bank-a");
  });

  it("serves a message that arrives in pieces, its prefix split too", async () => {
    const { bytes, headers } = getParticipant();
    const whole = frame(bytes);
    const before = harness.log.count("getParticipant");
    const answer = await rawCall({ headers, chunks: [whole.subarray(0, 2), whole.subarray(2, 7), whole.subarray(7)], gapMs: 20 });
    expect(answer.grpcStatus).toBe(0);
    expect(participantOf(answer).participantId).toBe("bank-a");
    expect(harness.log.count("getParticipant")).toBe(before + 1);
  });

  it("refuses another HTTP method with 405 and another content type with 415, without a gRPC status", async () => {
    const { bytes, headers } = getParticipant();
    const get = await rawCall({ method: "PUT", headers, chunks: [frame(bytes)] });
    expect(get.httpStatus).toBe(405);
    expect(get.grpcStatus).toBeUndefined();
    const json = await rawCall({ headers: { ...headers, "content-type": "application/json" }, chunks: [frame(bytes)] });
    expect(json.httpStatus).toBe(415);
    expect(json.grpcStatus).toBeUndefined();
    // A content type with a suffix or parameters is still gRPC.
    const suffixed = await rawCall({ headers: { ...getParticipant().headers, "content-type": "application/grpc+proto" }, chunks: [frame(bytes)] });
    expect(suffixed.grpcStatus === 0 || suffixed.grpcStatus === GrpcCode.UNAUTHENTICATED).toBe(true);
  });

  it("reads and drops what a refused client still sends, so that its stream ends", async () => {
    // Larger than HTTP/2's initial 64 KiB window: unread, the client's last writes would wait forever.
    const chunks = Array.from({ length: 8 }, () => Buffer.alloc(32 * 1024));
    const unknown = await rawCall({ path: "/clearmesh.nothing.v1.Nothing/Do", chunks: [frame(new Uint8Array()), ...chunks], gapMs: 5 });
    expect(unknown.grpcStatus).toBe(GrpcCode.UNIMPLEMENTED);
    const json = await rawCall({ headers: { "content-type": "application/json" }, chunks, gapMs: 5 });
    expect(json.httpStatus).toBe(415);
  });

  it("answers an unknown method UNIMPLEMENTED with an ErrorInfo, in a trailers-only answer", async () => {
    const answer = await rawCall({ path: "/clearmesh.nothing.v1.Nothing/Do", chunks: [frame(new Uint8Array())] });
    expect(answer.httpStatus).toBe(200);
    expect(answer.trailers).toBeUndefined();
    expect(answer.grpcStatus).toBe(GrpcCode.UNIMPLEMENTED);
    expect(answer.reason).toBe("UNIMPLEMENTED");
    expect(answer.grpcMessage).toContain("/clearmesh.nothing.v1.Nothing/Do");
  });

  it("refuses a malformed grpc-timeout with INVALID_ARGUMENT before the handler runs", async () => {
    const before = harness.log.count();
    for (const timeout of ["5s", "5 S", "123456789m", "S", "-1S"]) {
      const { bytes, headers } = getParticipant();
      const answer = await rawCall({ headers: { ...headers, "grpc-timeout": timeout }, chunks: [frame(bytes)] });
      expect({ timeout, status: answer.grpcStatus, reason: answer.reason }).toEqual({ timeout, status: GrpcCode.INVALID_ARGUMENT, reason: "MALFORMED_REQUEST" });
    }
    expect(harness.log.count()).toBe(before);
  });

  it("refuses a unary call with no message, two messages or a cut one, before the handler runs", async () => {
    const before = harness.log.count();
    const { bytes, headers } = getParticipant();
    const cases = {
      none: [] as Uint8Array[],
      two: [frame(bytes), frame(bytes)],
      twoInOneChunk: [Buffer.concat([frame(bytes), frame(bytes)])],
      cut: [frame(bytes).subarray(0, 8)],
      prefixOnly: [frame(bytes).subarray(0, 3)],
    };
    for (const [name, chunks] of Object.entries(cases)) {
      const answer = await rawCall({ headers, chunks });
      expect({ name, status: answer.grpcStatus, reason: answer.reason }).toEqual({ name, status: GrpcCode.INVALID_ARGUMENT, reason: "MALFORMED_REQUEST" });
    }
    expect(harness.log.count()).toBe(before);
  });

  it("answers RESOURCE_EXHAUSTED as soon as a prefix announces more than the limit, without waiting for the rest", async () => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(MAX_REQUEST_BYTES + 1, 1);
    const before = harness.log.count();
    const answer = await rawCall({ chunks: [prefix, Buffer.alloc(100)], keepOpen: true });
    expect(answer.grpcStatus).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(answer.reason).toBe("MESSAGE_TOO_LARGE");
    expect(harness.log.count()).toBe(before);
  });

  it("inflates gzip and deflate requests; the signature covers the uncompressed bytes", async () => {
    for (const [encoding, compress] of [["gzip", zlib.gzipSync], ["deflate", zlib.deflateSync]] as const) {
      const { bytes, headers } = getParticipant();
      const answer = await rawCall({ headers: { ...headers, "grpc-encoding": encoding }, chunks: [frame(compress(bytes), 1)] });
      expect({ encoding, status: answer.grpcStatus }).toEqual({ encoding, status: 0 });
      expect(answer.body[0]).toBe(0);
      expect(participantOf(answer).participantId).toBe("bank-a");
    }
  });

  it("refuses a compressed message with no encoding named, an unknown encoding, a bad flag, a corrupt or an oversized inflation", async () => {
    const before = harness.log.count();
    const { bytes, headers } = getParticipant();
    const bomb = zlib.gzipSync(Buffer.alloc(MAX_REQUEST_BYTES * 4));
    expect(bomb.length).toBeLessThan(MAX_REQUEST_BYTES);
    const cases: Array<[string, http2.OutgoingHttpHeaders, Uint8Array, number, string]> = [
      ["flag without encoding", headers, frame(zlib.gzipSync(bytes), 1), GrpcCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"],
      ["unknown encoding", { ...headers, "grpc-encoding": "snappy" }, frame(bytes, 1), GrpcCode.UNIMPLEMENTED, "UNIMPLEMENTED"],
      ["flag 2", headers, frame(bytes, 2), GrpcCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"],
      ["corrupt gzip", { ...headers, "grpc-encoding": "gzip" }, frame(bytes, 1), GrpcCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"],
      ["inflates past the limit", { ...headers, "grpc-encoding": "gzip" }, frame(bomb, 1), GrpcCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE"],
    ];
    for (const [name, requestHeaders, chunk, status, reason] of cases) {
      const answer = await rawCall({ headers: requestHeaders, chunks: [chunk] });
      expect({ name, status: answer.grpcStatus, reason: answer.reason }).toEqual({ name, status, reason });
    }
    expect(harness.log.count()).toBe(before);
  });

  it("percent-encodes grpc-message, and a grpc-js client reads the text back", async () => {
    const client = grpcClient(harness, { transport: "grpc-js" });
    try {
      const error = (await rejectionOf(client.getParticipant({ participantId: "bänk 100%" }))) as { code: number; details: string };
      expect(error.code).toBe(GrpcCode.NOT_FOUND);
      expect(error.details).toBe("no participant bänk 100%");
    } finally {
      client.close();
    }
  });

  it("keeps serving on the same connection after a client cancels a call in flight", async () => {
    const bytes = toBinary(GetTransferRequestSchema, create(GetTransferRequestSchema, { transferId: "slow-300" }));
    const stream = session.request({ ":method": "POST", ":path": GET_TRANSFER, "content-type": "application/grpc", te: "trailers", ...signed(GET_TRANSFER, bytes) });
    stream.on("error", () => undefined);
    stream.end(frame(bytes));
    await sleep(50);
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await sleep(400);
    const { bytes: again, headers } = getParticipant();
    expect((await rawCall({ headers, chunks: [frame(again)] })).grpcStatus).toBe(0);
  });
});

describe("the server on its own, with routes of the test's", () => {
  it("tells a call that its client cancelled once, and refuses an answer over the send limit", async () => {
    const calls: GrpcServerCall[] = [];
    let cancellations = 0;
    const routes = new Map([
      ["/t.T/Hang", { requestStream: false, start: (call: GrpcServerCall) => { calls.push(call); call.onCancel(() => cancellations++); } }],
      ["/t.T/Big", { requestStream: false, start: (call: GrpcServerCall) => call.answer(undefined, new Uint8Array(2_000)) }],
    ]);
    const server = await startGrpcServer(routes, { host: "127.0.0.1", port: 0, maxReceiveBytes: 1_000, maxSendBytes: 1_000 });
    const client = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      const stream = client.request({ ":method": "POST", ":path": "/t.T/Hang", "content-type": "application/grpc", "grpc-timeout": "250m" });
      stream.on("error", () => undefined);
      stream.end(frame(new Uint8Array([1, 2, 3])));
      while (calls.length === 0) await sleep(5);
      expect(calls[0]!.request).toEqual(Buffer.from([1, 2, 3]));
      expect(calls[0]!.deadlineAtMs - Date.now()).toBeGreaterThan(100);
      expect(calls[0]!.deadlineAtMs - Date.now()).toBeLessThanOrEqual(250);
      expect(calls[0]!.cancelled).toBe(false);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      while (!calls[0]!.cancelled) await sleep(5);
      expect(cancellations).toBe(1);
      // A listener added after the cancellation runs at once; answering then writes nothing.
      calls[0]!.onCancel(() => cancellations++);
      expect(cancellations).toBe(2);
      calls[0]!.answer(undefined, new Uint8Array(1));

      const big = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const request = client.request({ ":method": "POST", ":path": "/t.T/Big", "content-type": "application/grpc" });
        request.on("response", resolve);
        request.on("error", reject);
        request.end(frame(new Uint8Array()));
      });
      expect(big["grpc-status"]).toBe(String(GrpcCode.RESOURCE_EXHAUSTED));
      expect(errorInfoFromStatusBytes(Buffer.from(String(big["grpc-status-details-bin"]), "base64"))?.reason).toBe("ANSWER_TOO_LARGE");
    } finally {
      client.close();
      await server.close(100);
    }
  });
});

describe("closing connections that never became sessions", () => {
  it("a TLS handshake left hanging does not hold the close past its grace", async () => {
    const pki = await makePki();
    try {
      const server = await startGrpcServer(new Map(), {
        host: "127.0.0.1", port: 0, maxReceiveBytes: 1_000, maxSendBytes: 1_000,
        tls: readTlsFiles({ certFile: pki.serverCert, keyFile: pki.serverKey }),
      });
      // A TCP connection that never says anything: no handshake, so no HTTP/2 session.
      const socket = net.connect(server.port, "127.0.0.1");
      socket.on("error", () => undefined);
      await new Promise((resolve) => socket.once("connect", resolve));
      const started = Date.now();
      await server.close(200);
      expect(Date.now() - started).toBeLessThan(1_500);
      socket.destroy();
    } finally {
      fs.rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});

describe("grpc-timeout and grpc-message encodings (grpc-wire.ts)", () => {
  it("parses every unit, and refuses what is not 1 to 8 digits and a unit", () => {
    expect(parseGrpcTimeout("5S")).toBe(5_000);
    expect(parseGrpcTimeout("2H")).toBe(7_200_000);
    expect(parseGrpcTimeout("3M")).toBe(180_000);
    expect(parseGrpcTimeout("100m")).toBe(100);
    expect(parseGrpcTimeout("2500u")).toBe(2.5);
    expect(parseGrpcTimeout("99999999n")).toBeCloseTo(99.999999, 9);
    for (const bad of ["", "5", "S", "5s", " 5S", "5S ", "123456789S", "1.5S", ["5S", "6S"]]) expect(parseGrpcTimeout(bad)).toBeUndefined();
  });

  it("escapes bytes outside printable ASCII, and '%', as UTF-8 percent-encoding", () => {
    expect(encodeGrpcMessage("plain text: ok")).toBe("plain text: ok");
    expect(encodeGrpcMessage("ünï 100%\n")).toBe("%C3%BCn%C3%AF 100%25%0A");
    expect(decodeGrpcMessage(encodeGrpcMessage("€ ✓ \t"))).toBe("€ ✓ \t");
    // What is not valid percent-encoding is shown as it came.
    expect(decodeGrpcMessage("100%zz")).toBe("100%zz");
    expect(decodeGrpcMessage(undefined)).toBe("");
  });
});

describe("closing", () => {
  it("ends a health Watch UNAVAILABLE once it has seen NOT_SERVING, instead of holding the close for its grace", async () => {
    const closing = await startHarness();
    const client = new grpc.Client(closing.grpcAddress, grpc.credentials.createInsecure());
    try {
      const statuses: number[] = [];
      const request = toBinary(healthV1.HealthCheckRequestSchema, create(healthV1.HealthCheckRequestSchema, { service: "" }));
      const call = client.makeServerStreamRequest<Uint8Array, Buffer>("/grpc.health.v1.Health/Watch", (message) => Buffer.from(message), (buffer) => buffer, request, new grpc.Metadata(), {});
      call.on("data", (buffer: Buffer) => statuses.push(fromBinary(healthV1.HealthCheckResponseSchema, buffer).status));
      const ended = new Promise<number>((resolve) => {
        call.on("error", (error: grpc.ServiceError) => resolve(error.code));
        call.on("status", (status: grpc.StatusObject) => resolve(status.code));
      });
      while (statuses.length === 0) await sleep(10);
      const started = Date.now();
      await closing.close(5_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await ended).toBe(GrpcCode.UNAVAILABLE);
      expect(statuses).toEqual([healthV1.HealthCheckResponse_ServingStatus.SERVING, healthV1.HealthCheckResponse_ServingStatus.NOT_SERVING]);
    } finally {
      client.close();
    }
  });
});

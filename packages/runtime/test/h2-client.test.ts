// The services' own unary gRPC client on node:http2 (src/h2-client.ts): the same answers and
// errors as grpc-js's client against a real server, and what it makes of every way a server or
// a connection can misbehave (a hand-written HTTP/2 server gives those).
import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { googleRpc, RpcStatusSchema } from "@clearmesh/contracts";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { callError, http2Transport, type CallError, type UnaryTransport } from "../src/h2-client.js";
import { grpcTimeout } from "../src/grpc-wire.js";
import { errorReason } from "../src/errors.js";
import { GrpcCode, grpcClient, rejectionOf, startHarness, type Harness } from "./fixtures.js";

const PROCEDURE = "/test.v1.Echo/Echo";
const here = path.dirname(fileURLToPath(import.meta.url));

function framed(payload: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.alloc(5 + payload.length);
  frame[0] = flags;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

type Behaviour = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void;

/** A plain HTTP/2 server that reads each request whole and then does what the test asks. */
async function rawServer(behaviour: Behaviour): Promise<{ address: string; server: http2.Http2Server; sessions: Set<http2.ServerHttp2Session>; requests: Array<{ headers: http2.IncomingHttpHeaders; body: Buffer }> }> {
  const requests: Array<{ headers: http2.IncomingHttpHeaders; body: Buffer }> = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createServer();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", () => undefined);
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({ headers, body });
      behaviour(stream, headers, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, server, sessions, requests };
}

const ok = (stream: http2.ServerHttp2Stream, payload: Uint8Array, extra: http2.OutgoingHttpHeaders = {}) => {
  stream.respond({ ":status": 200, "content-type": "application/grpc", ...extra }, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(framed(payload));
};

const servers: http2.Http2Server[] = [];
const transports: UnaryTransport[] = [];
afterEach(async () => {
  for (const transport of transports.splice(0)) transport.close();
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

async function serve(behaviour: Behaviour) {
  const raw = await rawServer(behaviour);
  servers.push(raw.server);
  return raw;
}

function transportTo(address: string, maxReceiveBytes?: number): UnaryTransport {
  const transport = http2Transport(address, maxReceiveBytes === undefined ? {} : { maxReceiveBytes });
  transports.push(transport);
  return transport;
}

async function failure(promise: Promise<unknown>): Promise<CallError> {
  return (await rejectionOf(promise)) as CallError;
}

describe("the node:http2 client against a clearmesh server, beside grpc-js's client", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  for (const transport of ["http2", "grpc-js"] as const) {
    it(`${transport}: a signed call's answer, verified; a refusal with its status, message and ErrorInfo`, async () => {
      const client = grpcClient(harness, { transport });
      try {
        const participant = await client.getParticipant({ participantId: "bank-a" });
        expect(participant.participantId).toBe("bank-a");
        const refused = (await rejectionOf(client.getParticipant({ participantId: "fail-precondition" }))) as CallError;
        expect(refused.code).toBe(GrpcCode.FAILED_PRECONDITION);
        expect(refused.details).toBe("msg");
        expect(errorReason(refused)).toBe("SOME_REASON");
        expect(refused.message).toBe("9 FAILED_PRECONDITION: msg");
        const missing = (await rejectionOf(client.getParticipant({ participantId: "nobody here" }))) as CallError;
        expect([missing.code, errorReason(missing), missing.details]).toEqual([GrpcCode.NOT_FOUND, "UNKNOWN_PARTICIPANT", "no participant nobody here"]);
        const slow = (await rejectionOf(client.getTransfer({ transferId: "slow-2000" }, { deadlineMs: 150 }))) as CallError;
        expect(slow.code).toBe(GrpcCode.DEADLINE_EXCEEDED);
      } finally {
        client.close();
      }
    });
  }

  it("many calls at once share one connection", async () => {
    const client = grpcClient(harness);
    try {
      const answers = await Promise.all(Array.from({ length: 64 }, () => client.getParticipant({ participantId: "bank-a" })));
      expect(answers.every((answer) => answer.participantId === "bank-a")).toBe(true);
    } finally {
      client.close();
    }
  });
});

describe("the node:http2 client's requests and answers", () => {
  it("sends one uncompressed message with gRPC's headers and the caller's, and returns the answer's bytes and headers", async () => {
    const raw = await serve((stream) => ok(stream, Uint8Array.of(9, 8, 7), { "cm-participant": "clearing", "x-data-bin": Buffer.from([1, 2, 255]).toString("base64") }));
    const result = await transportTo(raw.address).unary(PROCEDURE, Uint8Array.of(1, 2, 3), { "cm-nonce": "abc", authorization: "Bearer t" }, 5_000);
    expect([...result.bytes]).toEqual([9, 8, 7]);
    expect(result.headers.get("cm-participant")).toEqual(["clearing"]);
    expect(result.headers.get("x-data-bin")).toEqual([Buffer.from([1, 2, 255])]);
    const [request] = raw.requests;
    expect(request!.headers[":method"]).toBe("POST");
    expect(request!.headers[":path"]).toBe(PROCEDURE);
    expect(request!.headers["content-type"]).toBe("application/grpc");
    expect(request!.headers.te).toBe("trailers");
    expect(request!.headers["cm-nonce"]).toBe("abc");
    expect(request!.headers.authorization).toBe("Bearer t");
    expect(request!.headers["grpc-encoding"]).toBeUndefined();
    expect(request!.headers["grpc-accept-encoding"]).toBeUndefined();
    expect(Number(/^(\d+)m$/.exec(String(request!.headers["grpc-timeout"]))?.[1])).toBeGreaterThan(4_900);
    expect([...request!.body]).toEqual([0, 0, 0, 0, 3, 1, 2, 3]);
  });

  it("an error in a trailers-only answer: code, percent-decoded message, details as metadata", async () => {
    const info = create(googleRpc.ErrorInfoSchema, { reason: "WHY_NOT", domain: "clearmesh", metadata: { field: "amount" } });
    const status = toBinary(RpcStatusSchema, create(RpcStatusSchema, { code: 9, message: "no", details: [anyPack(googleRpc.ErrorInfoSchema, info)] }));
    const raw = await serve((stream) => stream.respond({
      ":status": 200, "content-type": "application/grpc", "grpc-status": "9", "grpc-message": encodeURIComponent("nicht möglich: 100%"),
      "grpc-status-details-bin": Buffer.from(status).toString("base64"),
    }, { endStream: true }));
    const error = await failure(transportTo(raw.address).unary(PROCEDURE, Uint8Array.of(1), {}, 5_000));
    expect(error.code).toBe(GrpcCode.FAILED_PRECONDITION);
    expect(error.details).toBe("nicht möglich: 100%");
    expect(errorReason(error)).toBe("WHY_NOT");
    expect(error.metadata.get("grpc-status")).toEqual([]);
  });

  it("an error after headers, in the trailers", async () => {
    const raw = await serve((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "5", "grpc-message": "gone" }));
      stream.end();
    });
    const error = await failure(transportTo(raw.address).unary(PROCEDURE, Uint8Array.of(1), {}, 5_000));
    expect([error.code, error.details]).toEqual([GrpcCode.NOT_FOUND, "gone"]);
  });

  it("an HTTP status other than 200 is mapped as gRPC says (404 UNIMPLEMENTED, 503 UNAVAILABLE, others UNKNOWN)", async () => {
    const statuses = [404, 503, 500];
    let next = 0;
    const raw = await serve((stream) => stream.respond({ ":status": statuses[next++]! }, { endStream: true }));
    const transport = transportTo(raw.address);
    const codes = [];
    for (let i = 0; i < statuses.length; i += 1) codes.push((await failure(transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000))).code);
    expect(codes).toEqual([GrpcCode.UNIMPLEMENTED, GrpcCode.UNAVAILABLE, GrpcCode.UNKNOWN]);
  });

  it("answers that break the protocol leave the outcome unknown (INTERNAL), never a refusal", async () => {
    const cases: Behaviour[] = [
      // OK without a message
      (stream) => stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "0" }, { endStream: true }),
      // two messages
      (stream) => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(Buffer.concat([framed(Uint8Array.of(1)), framed(Uint8Array.of(2))]));
      },
      // a compressed message nobody offered to read
      (stream) => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(framed(Uint8Array.of(1), 1));
      },
      // a message cut short
      (stream) => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(framed(Uint8Array.of(1, 2, 3)).subarray(0, 6));
      },
      // no trailers at all
      (stream) => {
        stream.respond({ ":status": 200, "content-type": "application/grpc" });
        stream.end(framed(Uint8Array.of(1)));
      },
      // a status that is not a gRPC code
      (stream) => stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "42" }, { endStream: true }),
    ];
    let next = 0;
    const raw = await serve((stream, headers, body) => cases[next++]!(stream, headers, body));
    const transport = transportTo(raw.address);
    const seen = [];
    for (let i = 0; i < cases.length; i += 1) {
      const error = await failure(transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000));
      seen.push([error.code, error.details]);
    }
    expect(seen.map(([code]) => code)).toEqual(cases.map(() => GrpcCode.INTERNAL));
    expect(seen.map(([, details]) => details)).toEqual([
      "the answer carried no message",
      "the answer carried more than one message",
      "the answer is compressed, but no compression was offered",
      "the answer's message is cut short",
      "the answer ended without a gRPC status",
      "the answer carried an invalid grpc-status \"42\"",
    ]);
  });

  it("an answer larger than the limit is RESOURCE_EXHAUSTED", async () => {
    const raw = await serve((stream) => ok(stream, new Uint8Array(5_000)));
    const error = await failure(transportTo(raw.address, 1_000).unary(PROCEDURE, Uint8Array.of(1), {}, 5_000));
    expect(error.code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    const fits = await transportTo(raw.address, 5_000).unary(PROCEDURE, Uint8Array.of(1), {}, 5_000);
    expect(fits.bytes.length).toBe(5_000);
  });

  it("the server's RST_STREAM: ENHANCE_YOUR_CALM is RESOURCE_EXHAUSTED, CANCEL and others UNAVAILABLE", async () => {
    const codes = [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_INTERNAL_ERROR];
    let next = 0;
    const raw = await serve((stream) => stream.close(codes[next++]!));
    const transport = transportTo(raw.address);
    const seen = [];
    for (let i = 0; i < codes.length; i += 1) seen.push((await failure(transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000))).code);
    expect(seen).toEqual([GrpcCode.RESOURCE_EXHAUSTED, GrpcCode.UNAVAILABLE, GrpcCode.UNAVAILABLE]);
  });

  it("a stream the server refused unprocessed is sent once more; refused twice, the call fails UNAVAILABLE", async () => {
    let refusals = 1;
    const raw = await serve((stream) => (refusals-- > 0 ? stream.close(http2.constants.NGHTTP2_REFUSED_STREAM) : ok(stream, Uint8Array.of(4))));
    const transport = transportTo(raw.address);
    expect([...(await transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000)).bytes]).toEqual([4]);
    expect(raw.requests.length).toBe(2);
    refusals = 2;
    const error = await failure(transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000));
    expect(error.code).toBe(GrpcCode.UNAVAILABLE);
    expect(raw.requests.length).toBe(4);
  });

  it("the deadline: DEADLINE_EXCEEDED on time, and the stream is cancelled at the server", async () => {
    let cancelled: Promise<void> | undefined;
    const raw = await serve((stream) => {
      cancelled = new Promise<void>((resolve) => stream.on("close", () => resolve()));
    });
    const started = Date.now();
    const error = await failure(transportTo(raw.address).unary(PROCEDURE, Uint8Array.of(1), {}, 200));
    const took = Date.now() - started;
    expect(error.code).toBe(GrpcCode.DEADLINE_EXCEEDED);
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(3_000);
    expect(raw.requests[0]!.headers["grpc-timeout"]).toMatch(/^(1\d\d|200)m$/);
    await cancelled;
  });

  it("a connection that closes or goes away is replaced by the next call", async () => {
    const raw = await serve((stream) => ok(stream, Uint8Array.of(5)));
    const transport = transportTo(raw.address);
    await transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000);
    for (const session of raw.sessions) session.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect([...(await transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000)).bytes]).toEqual([5]);
    // A graceful close: GOAWAY, then the connection ends.
    for (const session of raw.sessions) session.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect([...(await transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000)).bytes]).toEqual([5]);
    expect(raw.requests.length).toBe(3);
  });

  it("nobody listening is UNAVAILABLE at once, and so is a closed client", async () => {
    const raw = await serve((stream) => ok(stream, Uint8Array.of(5)));
    const { address } = raw;
    await new Promise<void>((resolve) => raw.server.close(() => resolve()));
    servers.splice(servers.indexOf(raw.server), 1);
    const transport = transportTo(address);
    const error = await failure(transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000));
    expect(error.code).toBe(GrpcCode.UNAVAILABLE);
    expect(error.details).toMatch(/ECONNREFUSED/);
    transport.close();
    expect((await failure(transport.unary(PROCEDURE, Uint8Array.of(1), {}, 5_000))).code).toBe(GrpcCode.UNAVAILABLE);
  });

  it("a caller's header that the transport owns, or cannot send, is refused before anything is sent", async () => {
    const raw = await serve((stream) => ok(stream, Uint8Array.of(5)));
    const transport = transportTo(raw.address);
    const refused: Array<Record<string, string>> = [{ "content-type": "text/plain" }, { ":path": "/other" }, { "grpc-timeout": "1S" }, { "X-Upper": "x" }, { "x-data-bin": "AQ==" }, { "x-line": "a\nb" }, { "x-zero": "a\u0000b" }, { "x-accent": "é" }, { "bad name": "x" }];
    for (const headers of refused) {
      expect(await rejectionOf(transport.unary(PROCEDURE, Uint8Array.of(1), headers, 5_000))).toBeInstanceOf(TypeError);
    }
    expect(raw.requests.length).toBe(0);
  });

  it("an idle client does not keep its process alive; a call in flight does", async () => {
    let answered = 0;
    const raw = await serve((stream) => setTimeout(() => {
      answered += 1;
      ok(stream, Uint8Array.of(6));
    }, 300));
    const script = path.join(here, "h2-client-child.ts");
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script, raw.address], { timeout: 20_000, cwd: here });
    expect(stdout.trim()).toBe("answer 6");
    expect(answered).toBe(1);
  });
});

describe("grpc-timeout and errors", () => {
  it("writes the deadline in at most eight digits", () => {
    expect(grpcTimeout(250)).toBe("250m");
    expect(grpcTimeout(0.2)).toBe("1m");
    expect(grpcTimeout(-5)).toBe("0m");
    expect(grpcTimeout(99_999_999)).toBe("99999999m");
    expect(grpcTimeout(100_000_000)).toBe("100000S");
    expect(grpcTimeout(1e12)).toBe("277778H");
  });

  it("a call error reads like grpc-js's", () => {
    const error = callError(14, "no answer");
    expect([error.message, error.code, error.details, error.metadata.getMap()]).toEqual(["14 UNAVAILABLE: no answer", 14, "no answer", {}]);
  });
});

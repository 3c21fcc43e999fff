// The lazily built gRPC handler context behaves as connect's createHandlerContext does: its
// signal aborts at the deadline, on shutdown and when the call is over, whenever it is first read.
import { ConnectError, Code } from "@connectrpc/connect";
import { createContextValues } from "@connectrpc/connect";
import { ClearingService } from "@clearmesh/contracts";
import { describe, expect, it } from "vitest";
import { GrpcCallContext } from "../src/grpc-transport.js";
import { requestMetadata } from "../src/h2-server.js";

const method = ClearingService.method.createTransfer;

function contextFor(deadlineInMs: number, shutdown = new AbortController()) {
  // As node:http2 hands them over.
  const headers = {
    ":method": "POST", ":path": "/clearmesh.clearing.v1.ClearingService/CreateTransfer", "content-type": "application/grpc", te: "trailers",
    "grpc-timeout": "5S", "cm-participant": "bank-a", "trace-bin": "AQID", "x-twice": ["a", "b"],
  };
  return { shutdown, context: new GrpcCallContext(method, "/clearmesh.clearing.v1.ClearingService/CreateTransfer", createContextValues(), Date.now() + deadlineInMs, shutdown.signal, { metadata: () => requestMetadata(headers) }) };
}

const reasonOf = (signal: AbortSignal) => signal.reason as ConnectError;

describe("GrpcCallContext", () => {
  it("aborts its signal at the deadline with DEADLINE_EXCEEDED", async () => {
    const { context } = contextFor(60);
    expect(context.timeoutMs()).toBeGreaterThan(0);
    const signal = context.signal;
    expect(signal.aborted).toBe(false);
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    expect(reasonOf(signal).code).toBe(Code.DeadlineExceeded);
  });

  it("aborts on shutdown, and ends once: a later reason does not replace the first", () => {
    const { context, shutdown } = contextFor(10_000);
    const signal = context.signal;
    shutdown.abort(new ConnectError("server stopping", Code.Unavailable));
    expect(reasonOf(signal).code).toBe(Code.Unavailable);
    context.abort(new ConnectError("the call is over", Code.Canceled));
    expect(reasonOf(signal).code).toBe(Code.Unavailable);
  });

  it("gives an aborted signal when first read after the call is over, and no longer listens to shutdown", () => {
    const { context, shutdown } = contextFor(10_000);
    context.abort(new ConnectError("the call is over", Code.Canceled));
    shutdown.abort(new ConnectError("server stopping", Code.Unavailable));
    expect(context.signal.aborted).toBe(true);
    expect(reasonOf(context.signal).code).toBe(Code.Canceled);
  });

  it("unhooks from the shutdown signal when the call ends", () => {
    const { context, shutdown } = contextFor(10_000);
    const signal = context.signal;
    context.abort(new ConnectError("the call is over", Code.Canceled));
    shutdown.abort(new ConnectError("server stopping", Code.Unavailable));
    expect(reasonOf(signal).code).toBe(Code.Canceled);
  });

  it("exposes the request metadata as headers (pseudo, transport and binary ones left out) and collects response headers", () => {
    const { context } = contextFor(10_000);
    expect([...context.requestHeader.keys()].sort()).toEqual(["cm-participant", "x-twice"]);
    expect(context.requestHeader.get("cm-participant")).toBe("bank-a");
    expect(context.requestHeader.get("x-twice")).toBe("a, b");
    expect(context.responseHeaders(undefined)).toBeUndefined();
    expect(context.responseHeaders({ "cm-signature": "s" })).toEqual({ "cm-signature": "s" });
    expect(context.responseTrailers()).toBeUndefined();
    context.responseHeader.set("x-answer", "42");
    context.responseTrailer.set("x-trailer", "1");
    expect(context.responseHeaders({ "cm-signature": "s" })).toEqual({ "x-answer": "42", "cm-signature": "s" });
    expect(context.responseTrailers()).toEqual({ "x-trailer": "1" });
  });
});

// The lazily built gRPC handler context behaves as connect's createHandlerContext does: its
// signal aborts at the deadline, on shutdown and when the call is over, whenever it is first read.
import * as grpc from "@grpc/grpc-js";
import { ConnectError, Code } from "@connectrpc/connect";
import { createContextValues } from "@connectrpc/connect";
import { ClearingService } from "@clearmesh/contracts";
import { describe, expect, it } from "vitest";
import { GrpcCallContext } from "../src/grpc-transport.js";

const method = ClearingService.method.createTransfer;

function contextFor(deadlineInMs: number, shutdown = new AbortController()) {
  const metadata = new grpc.Metadata();
  metadata.set("cm-participant", "bank-a");
  metadata.set("trace-bin", Buffer.from([1, 2, 3]));
  return { shutdown, context: new GrpcCallContext(method, "/clearmesh.clearing.v1.ClearingService/CreateTransfer", createContextValues(), Date.now() + deadlineInMs, shutdown.signal, metadata) };
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

  it("exposes the request metadata as headers (binary ones left out) and collects response headers", () => {
    const { context } = contextFor(10_000);
    expect(context.requestHeader.get("cm-participant")).toBe("bank-a");
    expect(context.requestHeader.has("trace-bin")).toBe(false);
    expect(context.responseMetadata().getMap()).toEqual({});
    context.responseHeader.set("x-answer", "42");
    context.responseTrailer.set("x-trailer", "1");
    expect(context.responseMetadata().get("x-answer")).toEqual(["42"]);
    expect(context.trailerMetadata().get("x-trailer")).toEqual(["1"]);
  });
});

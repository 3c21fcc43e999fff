// One webhook POST over node:http(s): a fresh connection per attempt (no pooled socket a hung
// merchant could hold), a hard timeout covering the answer, redirects not followed, and at most
// MAX_RESPONSE_BYTES of the answer read. Never throws: every failure is an AttemptResult.
import http from "node:http";
import https from "node:https";
import type { AttemptResult } from "./schedule.js";

/** The merchant's answer body is read (and dropped) up to this size. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export type WebhookPoster = (url: string, body: Uint8Array, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal) => Promise<AttemptResult>;

export const postWebhook: WebhookPoster = (url, body, headers, timeoutMs, signal) => new Promise((resolve) => {
  const target = new URL(url);
  const transport = target.protocol === "https:" ? https : http;
  let settled = false;
  const finish = (result: AttemptResult) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    request.destroy();
    resolve(result);
  };
  const request = transport.request(target, {
    method: "POST",
    agent: false,
    headers: { ...headers, "content-type": "application/json", "content-length": String(body.byteLength), "user-agent": "clearmesh-e-commerce-connector" },
  }, (response) => {
    const status = response.statusCode ?? 0;
    let received = 0;
    response.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_RESPONSE_BYTES) finish(resultOf(status));
    });
    response.on("end", () => finish(resultOf(status)));
    response.on("error", (error) => finish({ httpStatus: status, error: `answer interrupted: ${error.message}` }));
  });
  const timer = setTimeout(() => finish({ httpStatus: 0, error: `timeout after ${timeoutMs} ms` }), timeoutMs);
  const onAbort = () => finish({ httpStatus: 0, error: "interrupted by shutdown" });
  signal.addEventListener("abort", onAbort);
  request.on("error", (error: NodeJS.ErrnoException) => finish({ httpStatus: 0, error: describeError(error) }));
  request.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
});

function resultOf(status: number): AttemptResult {
  return status >= 200 && status < 300 ? { httpStatus: status, error: "" } : { httpStatus: status, error: `HTTP ${status}` };
}

function describeError(error: NodeJS.ErrnoException): string {
  if (error.code === "ECONNREFUSED") return "connection refused";
  if (error.code === "ENOTFOUND") return "host not found";
  if (error.code === "ECONNRESET") return "connection reset";
  return error.code ? `${error.code}: ${error.message}` : error.message;
}

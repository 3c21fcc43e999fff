// Webhook POSTs over node:http(s): a hard timeout covering the answer, redirects not followed,
// and at most MAX_RESPONSE_BYTES of the answer read. Never throws: every failure is an
// AttemptResult.
//
// Connections are kept alive between attempts (one pool per dispatcher, sockets per origin): a
// wallet payment sends two webhooks to the same merchant within milliseconds, and a new TCP (or
// TLS) connection per POST cost both sides more than the request itself. A connection is reused
// only after a complete, fully read answer; an attempt that times out, is cut short by shutdown
// or answers too much destroys its socket, so a merchant whose endpoint hangs never holds a
// pooled connection beyond its attempt (and merchants never share an attempt's socket). Idle
// sockets close after IDLE_SOCKET_MS, sooner if the merchant announces a shorter keep-alive.
// A request that fails on a reused socket before any answer (the merchant closed the idle
// connection just then) is sent once more on a fresh connection within the same attempt:
// delivery is at least once and receivers dedupe by webhook id.
import http from "node:http";
import https from "node:https";
import type { AttemptResult } from "./schedule.js";

/** The merchant's answer body is read (and dropped) up to this size. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** Idle keep-alive sockets are closed after this long (below the common 5 s server default). */
export const IDLE_SOCKET_MS = 4_000;
/** Errors that mean a reused idle connection was closed by the other side before it answered. */
const STALE_SOCKET_CODES: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

export type WebhookPoster = (url: string, body: Uint8Array, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal) => Promise<AttemptResult>;

export interface PooledWebhookPoster {
  post: WebhookPoster;
  /** Closes the idle sockets; attempts still running keep theirs until they end. */
  close(): void;
}

export function createWebhookPoster(options: { idleSocketMs?: number } = {}): PooledWebhookPoster {
  const agentOptions = { keepAlive: true, timeout: options.idleSocketMs ?? IDLE_SOCKET_MS, scheduling: "lifo" as const };
  const agents = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };
  const post: WebhookPoster = (url, body, headers, timeoutMs, signal) => new Promise((resolve) => {
    const target = new URL(url);
    const secure = target.protocol === "https:";
    let settled = false;
    let request: http.ClientRequest;
    const finish = (result: AttemptResult, reusable = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      // A complete answer leaves the socket to the pool; anything else ends the connection.
      if (!reusable) request.destroy();
      resolve(result);
    };
    const send = (fresh: boolean) => {
      let answered = false;
      request = (secure ? https : http).request(target, {
        method: "POST",
        agent: fresh ? false : secure ? agents.https : agents.http,
        headers: { ...headers, "content-type": "application/json", "content-length": String(body.byteLength), "user-agent": "clearmesh-e-commerce-connector" },
      }, (response) => {
        answered = true;
        const status = response.statusCode ?? 0;
        let received = 0;
        response.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > MAX_RESPONSE_BYTES) finish(resultOf(status));
        });
        response.on("end", () => finish(resultOf(status), true));
        response.on("error", (error) => finish({ httpStatus: status, error: `answer interrupted: ${error.message}` }));
      });
      const sent = request;
      sent.on("error", (error: NodeJS.ErrnoException) => {
        if (settled || sent !== request) return;
        if (!fresh && !answered && sent.reusedSocket && STALE_SOCKET_CODES.has(error.code ?? "")) {
          sent.destroy();
          send(true);
          return;
        }
        finish({ httpStatus: 0, error: describeError(error) });
      });
      sent.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    };
    const timer = setTimeout(() => finish({ httpStatus: 0, error: `timeout after ${timeoutMs} ms` }), timeoutMs);
    const onAbort = () => finish({ httpStatus: 0, error: "interrupted by shutdown" });
    signal.addEventListener("abort", onAbort);
    send(false);
  });
  return {
    post,
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

function resultOf(status: number): AttemptResult {
  return status >= 200 && status < 300 ? { httpStatus: status, error: "" } : { httpStatus: status, error: `HTTP ${status}` };
}

function describeError(error: NodeJS.ErrnoException): string {
  if (error.code === "ECONNREFUSED") return "connection refused";
  if (error.code === "ENOTFOUND") return "host not found";
  if (error.code === "ECONNRESET") return "connection reset";
  return error.code ? `${error.code}: ${error.message}` : error.message;
}

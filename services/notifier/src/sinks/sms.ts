// The local SMS gateway sink: an HTTP server taking what the notifier's http-gateway provider
// posts (POST, JSON `{"to","text","notification_id"}`, any path) and storing each message in
// <dir> as `<received ms>-<n>.json`; it answers 202 `{"id": "<file name>"}`, or 400 for a body
// that is not such a message, 413 above 64 KiB.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { writeAtomically } from "./mail.js";

export const SMS_SINK_MAX_BODY_BYTES = 64 * 1024;

export interface StoredSms {
  file: string;
  receivedAt: string;
  to: string;
  text: string;
  notification_id: string;
}

export interface SmsSink {
  readonly port: number;
  /** The URL to give the notifier as SMS_GATEWAY_URL. */
  readonly url: string;
  readonly dir: string;
  readonly received: number;
  stop(): Promise<void>;
}

export interface SmsSinkOptions {
  dir: string;
  /** 0 picks a free port. */
  port: number;
  host?: string;
}

export async function startSmsSink(options: SmsSinkOptions): Promise<SmsSink> {
  const host = options.host ?? "127.0.0.1";
  fs.mkdirSync(options.dir, { recursive: true });
  let received = 0;
  let sequence = 0;
  const server = http.createServer((request, response) => {
    const answer = (status: number, body: object) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    };
    if (request.method !== "POST") return answer(405, { error: "POST a message" });
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > SMS_SINK_MAX_BODY_BYTES) {
        answer(413, { error: "body too large" });
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => {
      if (response.headersSent) return;
      const message = parseMessage(Buffer.concat(chunks).toString("utf8"));
      if (message === undefined) return answer(400, { error: "expected JSON {\"to\", \"text\", \"notification_id\"}" });
      sequence += 1;
      const name = `${Date.now()}-${String(sequence).padStart(6, "0")}.json`;
      const stored: StoredSms = { file: name, receivedAt: new Date().toISOString(), ...message };
      try {
        writeAtomically(path.join(options.dir, name), `${JSON.stringify(stored, null, 2)}\n`);
      } catch {
        return answer(503, { error: "could not store the message" });
      }
      received += 1;
      answer(202, { id: name });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://${host}:${port}/messages`,
    dir: options.dir,
    get received() {
      return received;
    },
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function parseMessage(body: string): { to: string; text: string; notification_id: string } | undefined {
  try {
    const value = JSON.parse(body) as Record<string, unknown>;
    const { to, text, notification_id: notificationId } = value;
    if (typeof to !== "string" || typeof text !== "string" || to === "" || text === "") return undefined;
    return { to, text, notification_id: typeof notificationId === "string" ? notificationId : "" };
  } catch {
    return undefined;
  }
}

/** Every stored SMS in `dir`, oldest first. */
export function readStoredSms(dir: string): StoredSms[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((file) => file.endsWith(".json")).sort()
    .map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as StoredSms);
}

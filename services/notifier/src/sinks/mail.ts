// The local mail sink: an SMTP server (smtp-server) that accepts every message and stores it in
// <dir> as `<received ms>-<n>.eml` (the raw message) and `.json` (envelope, headers we set,
// subject, text and HTML decoded), so nothing leaves the machine and the demo can show it.
import fs from "node:fs";
import path from "node:path";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import { parseMail } from "./mime.js";

/** Largest message accepted (the notifier's are a few KiB). */
export const MAIL_SINK_MAX_MESSAGE_BYTES = 1024 * 1024;
/** How long stop() waits for open SMTP sessions before closing them. */
const CLOSE_TIMEOUT_MS = 1_000;

export interface StoredMail {
  file: string;
  receivedAt: string;
  from: string;
  to: string[];
  messageId: string;
  notificationId: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailSink {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Messages stored since the start, in arrival order. */
  readonly received: number;
  stop(): Promise<void>;
}

export interface MailSinkOptions {
  dir: string;
  /** 0 picks a free port. */
  port: number;
  host?: string;
}

export async function startMailSink(options: MailSinkOptions): Promise<MailSink> {
  const host = options.host ?? "127.0.0.1";
  fs.mkdirSync(options.dir, { recursive: true });
  let received = 0;
  let sequence = 0;
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    size: MAIL_SINK_MAX_MESSAGE_BYTES,
    closeTimeout: CLOSE_TIMEOUT_MS,
    banner: "clearmesh local mail sink",
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (error?: Error | null) => void) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        if (stream.sizeExceeded) {
          callback(Object.assign(new Error("message too large"), { responseCode: 552 }));
          return;
        }
        try {
          sequence += 1;
          storeMail(options.dir, `${Date.now()}-${String(sequence).padStart(6, "0")}`, Buffer.concat(chunks), session);
          received += 1;
          callback();
        } catch (error) {
          callback(Object.assign(new Error("could not store the message"), { responseCode: 451, cause: error }));
        }
      });
    },
  });
  // Without a listener an error event (a client resetting its connection) would throw.
  server.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(options.port, host, () => {
      server.server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as { port: number }).port;
  return {
    port,
    url: `smtp://${host}:${port}`,
    dir: options.dir,
    get received() {
      return received;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function storeMail(dir: string, name: string, raw: Buffer, session: SMTPServerSession): void {
  const parsed = parseMail(raw.toString("utf8"));
  const summary: StoredMail = {
    file: `${name}.eml`,
    receivedAt: new Date().toISOString(),
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
    to: session.envelope.rcptTo.map((recipient) => recipient.address),
    messageId: parsed.headers.get("message-id") ?? "",
    notificationId: parsed.headers.get("x-clearmesh-notification-id") ?? "",
    subject: parsed.subject,
    text: parsed.text,
    html: parsed.html,
  };
  writeAtomically(path.join(dir, `${name}.eml`), raw);
  // The summary last: a reader that sees it finds the raw message too.
  writeAtomically(path.join(dir, `${name}.json`), `${JSON.stringify(summary, null, 2)}\n`);
}

/** Written aside and renamed, so a reader never sees half a file. */
export function writeAtomically(file: string, data: Buffer | string): void {
  const temporary = `${file}.partial`;
  fs.writeFileSync(temporary, data, { mode: 0o600 });
  fs.renameSync(temporary, file);
}

/** Every stored mail summary in `dir`, oldest first. */
export function readStoredMails(dir: string): StoredMail[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((file) => file.endsWith(".json")).sort()
    .map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as StoredMail);
}

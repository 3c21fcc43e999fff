// E-mail over SMTP with nodemailer: one connection per message (no pool, so a server that went
// away and came back is simply reached again), bounded by NOTIFY_SEND_TIMEOUT_MS at every step.
import nodemailer, { type NodemailerError } from "nodemailer";
import { delivered, failed, type EmailChannel, type OutgoingEmail, type SendOutcome } from "./types.js";

export interface SmtpChannelOptions {
  /** smtp://[user:pass@]host:port or smtps://… */
  url: string;
  from: string;
  timeoutMs: number;
}

/** Header naming the notification, so a mailbox (or the local sink) can find and dedupe it. */
export const NOTIFICATION_ID_HEADER = "X-Clearmesh-Notification-Id";

export function createSmtpChannel(options: SmtpChannelOptions): EmailChannel {
  const transport = nodemailer.createTransport({
    url: options.url,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    // Messages are built from our templates only: no attachments, files or URLs to fetch.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    async send(email: OutgoingEmail): Promise<SendOutcome> {
      try {
        await transport.sendMail({
          from: options.from,
          to: email.to,
          subject: email.subject,
          text: email.text,
          html: email.html,
          // The same Message-ID on every attempt lets a mailbox drop a copy of a retried message.
          messageId: `<${email.notificationId.replace(/[^A-Za-z0-9._-]/g, "-")}@notifier.clearmesh>`,
          headers: { [NOTIFICATION_ID_HEADER]: email.notificationId },
        });
        return delivered;
      } catch (error) {
        return classifySmtpError(error as NodemailerError);
      }
    },
    close: () => transport.close(),
  };
}

const UNAVAILABLE_CODES = new Set(["ECONNECTION", "ESOCKET", "EDNS", "ETLS", "EPROXY", "ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH"]);

/** Maps a nodemailer error onto the retry policy; the detail carries codes, never server text. */
export function classifySmtpError(error: NodemailerError): SendOutcome {
  const code = error.code ?? "UNKNOWN";
  const detail = [code, error.originalCode, error.responseCode].filter((part) => part !== undefined).join(" ");
  // Credentials are configuration: retried, so fixing SMTP_URL is enough (no dead letters meanwhile).
  if (code === "EAUTH" || code === "ENOAUTH") return failed("CHANNEL_REJECTED", `SMTP ${detail}`);
  if (error.responseCode !== undefined) {
    const permanent = error.permanent ?? (error.responseCode >= 500 && error.responseCode !== 503);
    return failed(permanent ? "CHANNEL_REJECTED_PERMANENTLY" : "CHANNEL_REJECTED", `SMTP ${detail}`);
  }
  if (code === "ETIMEDOUT") return failed("CHANNEL_TIMEOUT", `SMTP ${detail}`);
  if (code === "EENVELOPE") return failed("CHANNEL_REJECTED_PERMANENTLY", `SMTP ${detail}`);
  if (UNAVAILABLE_CODES.has(code)) return failed("CHANNEL_UNAVAILABLE", `SMTP ${detail}`);
  // Anything unexpected: retry.
  return failed("CHANNEL_REJECTED", `SMTP ${detail}`);
}

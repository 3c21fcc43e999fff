// What the dispatcher needs from a channel: send one message, and say how it went in terms the
// retry policy understands. Failure details name codes only (an SMTP reply code, an errno, an
// HTTP status), never the server's text, which may quote the recipient.
import type { DeliveryFailureReason } from "../errors.js";

export type SendOutcome = { ok: true } | { ok: false; reason: DeliveryFailureReason; detail: string };

export interface OutgoingEmail {
  notificationId: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface OutgoingSms {
  notificationId: string;
  /** E.164. */
  to: string;
  text: string;
}

export interface EmailChannel {
  send(email: OutgoingEmail): Promise<SendOutcome>;
  close(): void;
}

/** An SMS provider: one module implementing this (see sms-http-gateway.ts). */
export interface SmsProvider {
  readonly name: string;
  send(sms: OutgoingSms): Promise<SendOutcome>;
  close(): void;
}

export const delivered: SendOutcome = { ok: true };

export function failed(reason: DeliveryFailureReason, detail: string): SendOutcome {
  return { ok: false, reason, detail };
}

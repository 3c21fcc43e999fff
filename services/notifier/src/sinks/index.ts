// The local sinks `npm start` runs so nothing leaves the machine (ARCHITECTURE.md "One machine"):
// an SMTP server storing mail in <data>/sinks/mail/ and an HTTP SMS gateway storing messages in
// <data>/sinks/sms/, on ports 2525 and 8099 by default, both on 127.0.0.1.
import path from "node:path";
import { DEFAULT_SMS_SINK_PORT, DEFAULT_SMTP_SINK_PORT } from "../settings.js";
import { startMailSink, type MailSink } from "./mail.js";
import { startSmsSink, type SmsSink } from "./sms.js";

export interface LocalSinksOptions {
  dataDir: string;
  /** Default 2525; 0 picks a free port. */
  smtpPort?: number;
  /** Default 8099; 0 picks a free port. */
  smsPort?: number;
  host?: string;
  /** When a port is taken (another mesh runs its sinks), take a free one instead of failing. */
  freePortIfTaken?: boolean;
}

export interface LocalSinks {
  mail: MailSink;
  sms: SmsSink;
  /** SMTP_URL for the notifier. */
  smtpUrl: string;
  /** SMS_GATEWAY_URL for the notifier. */
  smsGatewayUrl: string;
  stop(): Promise<void>;
}

export function localSinkDirectories(dataDir: string): { mail: string; sms: string } {
  return { mail: path.join(dataDir, "sinks", "mail"), sms: path.join(dataDir, "sinks", "sms") };
}

export async function startLocalSinks(options: LocalSinksOptions): Promise<LocalSinks> {
  const directories = localSinkDirectories(options.dataDir);
  const onPort = async <T>(port: number, start: (port: number) => Promise<T>): Promise<T> => {
    try {
      return await start(port);
    } catch (error) {
      if (!options.freePortIfTaken || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
      return start(0);
    }
  };
  const mail = await onPort(options.smtpPort ?? DEFAULT_SMTP_SINK_PORT, (port) => startMailSink({ dir: directories.mail, port, host: options.host }));
  let sms: SmsSink;
  try {
    sms = await onPort(options.smsPort ?? DEFAULT_SMS_SINK_PORT, (port) => startSmsSink({ dir: directories.sms, port, host: options.host }));
  } catch (error) {
    await mail.stop();
    throw error;
  }
  return {
    mail,
    sms,
    smtpUrl: mail.url,
    smsGatewayUrl: sms.url,
    stop: async () => {
      await Promise.all([mail.stop(), sms.stop()]);
    },
  };
}

export { readStoredMails, startMailSink, type MailSink, type StoredMail } from "./mail.js";
export { readStoredSms, startSmsSink, type SmsSink, type StoredSms } from "./sms.js";

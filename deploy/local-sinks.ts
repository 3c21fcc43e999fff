// The notifier's local mail and SMS sinks as a process of their own: docker-compose.yml's
// `sinks` service, so a deployment catches every e-mail and SMS without a real SMTP relay or
// SMS provider (point SMTP_URL / SMS_GATEWAY_URL elsewhere for real delivery).
//
//   node --import tsx deploy/local-sinks.ts
//
// Environment: CLEARMESH_DATA_DIR (messages go to <data>/sinks/mail and <data>/sinks/sms),
// SINK_BIND_HOST (default 0.0.0.0), SMTP_SINK_PORT (default 2525), SMS_SINK_PORT (default 8099).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_SMS_SINK_PORT, DEFAULT_SMTP_SINK_PORT, startLocalSinks, type LocalSinks } from "@clearmesh/notifier";

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new Error(`${name} must be a port number`);
  return parsed;
}

export async function runLocalSinks(environment: Record<string, string | undefined>): Promise<LocalSinks> {
  return startLocalSinks({
    dataDir: path.resolve(environment.CLEARMESH_DATA_DIR || "./data"),
    host: environment.SINK_BIND_HOST || "0.0.0.0",
    smtpPort: port(environment.SMTP_SINK_PORT, DEFAULT_SMTP_SINK_PORT, "SMTP_SINK_PORT"),
    smsPort: port(environment.SMS_SINK_PORT, DEFAULT_SMS_SINK_PORT, "SMS_SINK_PORT"),
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    const sinks = await runLocalSinks(process.env);
    process.stdout.write(`mail sink on port ${sinks.mail.port} -> ${sinks.mail.dir}; SMS sink on port ${sinks.sms.port} (POST /messages) -> ${sinks.sms.dir}\n`);
    const stop = () => void sinks.stop().then(() => process.exit(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  } catch (error) {
    process.stderr.write(`local sinks: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

// JSON logs (pino) with secrets redacted by field name, wherever they sit.
import { pino, type Logger } from "pino";

/** Field names whose values never reach a log line. */
export const REDACTED_FIELDS = [
  "password", "newPassword", "oldPassword", "seed", "secret", "totpSecret", "totpCode", "sessionToken", "token",
  "pan", "cardNumber", "accountNumber", "authorization", "dataKey", "dataKeys", "privateKey", "cvv", "fulfilment",
] as const;

const redactPaths = REDACTED_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);

export function createLogger(options: { service: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.service,
      level: options.level ?? "info",
      base: { service: options.service },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

export type { Logger };

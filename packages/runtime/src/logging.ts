// JSON logs (pino) with secrets redacted by field name, wherever they sit: the names are
// @clearmesh/trust's SECRET_FIELD_NAMES (snake_case, camelCase and header forms), at any depth.
import { pino, type Logger } from "pino";
import { SECRET_FIELD_NAMES, redactSecrets } from "@clearmesh/trust";

/** Field names whose values never reach a log line. */
export const REDACTED_FIELDS: readonly string[] = SECRET_FIELD_NAMES;
export function createLogger(options: { service: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: options.service,
      level: options.level ?? "info",
      base: { service: options.service },
      formatters: { log: (object) => redactSecrets(object) as Record<string, unknown> },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

export type { Logger };

/**
 * The logging surface the bus needs. A pino logger fits it as is (`logger.warn({...}, "text")`).
 */
export interface BusLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

export const silentLogger: BusLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

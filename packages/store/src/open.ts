import { resolve } from "node:path";
import { StoreConfigError } from "./errors.js";
import { openPostgres } from "./postgres.js";
import { openSqlite } from "./sqlite.js";
import type { OpenStoreOptions, Store } from "./types.js";

type Target = { engine: "postgres"; url: string } | { engine: "sqlite"; path: string };

/**
 * Opens the store a service is configured for: `postgres://` / `postgresql://` URLs select
 * PostgreSQL, `sqlite:<path>` or `sqlitePath` select SQLite.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const target = resolveTarget(options);
  if (target.engine === "postgres") {
    return openPostgres(target.url, { poolSize: options.poolSize, statementTimeoutMs: options.statementTimeoutMs });
  }
  return openSqlite(target.path, { busyTimeoutMs: options.busyTimeoutMs });
}

function resolveTarget({ url, sqlitePath }: OpenStoreOptions): Target {
  if (url !== undefined && sqlitePath !== undefined) {
    throw new StoreConfigError("openStore: give either url or sqlitePath, not both");
  }
  if (sqlitePath !== undefined) return { engine: "sqlite", path: sqlitePathOf(sqlitePath) };
  if (url === undefined || url === "") throw new StoreConfigError("openStore: no store configured (url or sqlitePath is required)");
  if (/^postgres(ql)?:\/\//i.test(url)) return { engine: "postgres", url };
  if (/^sqlite:/i.test(url)) return { engine: "sqlite", path: sqlitePathOf(url.slice("sqlite:".length)) };
  // Name only the scheme: the rest of a URL may carry a password.
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  const what = scheme ? `scheme "${scheme}:"` : "a value without a scheme";
  throw new StoreConfigError(`openStore: unsupported store URL (${what}); expected postgres://, postgresql:// or sqlite:<path>`);
}

function sqlitePathOf(path: string): string {
  if (path === "") throw new StoreConfigError("openStore: empty SQLite path");
  return path === ":memory:" ? path : resolve(path);
}

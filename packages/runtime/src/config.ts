// Every setting comes from the environment through one schema, validated at start with a
// message naming the bad variable; docs/configuration.md is generated from the same schema.
import path from "node:path";

export interface Setting<T> {
  /** Environment variable name. */
  readonly env: string;
  /** What the setting does, for docs/configuration.md. */
  readonly doc: string;
  /** Default as it would be written in the environment; undefined = required. */
  readonly fallback?: string | ((raw: Record<string, string | undefined>) => string | undefined);
  /** Human text of the default when it is computed. */
  readonly fallbackText?: string;
  /** Secret values are never echoed in errors or logs. */
  readonly secret?: boolean;
  readonly optional?: boolean;
  parse(raw: string): T;
}

export type SettingsSchema = Record<string, Setting<unknown>>;
export type Settings<S extends SettingsSchema> = {
  [K in keyof S]: S[K] extends Setting<infer T> ? (S[K]["optional"] extends true ? T | undefined : T) : never;
};

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** Parses and validates every setting, reporting all bad variables at once. */
export function loadSettings<S extends SettingsSchema>(schema: S, environment: Record<string, string | undefined> = process.env): Settings<S> {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(schema)) {
    const given = environment[setting.env];
    const fallback = typeof setting.fallback === "function" ? setting.fallback(environment) : setting.fallback;
    const raw = given !== undefined && given !== "" ? given : fallback;
    if (raw === undefined) {
      if (!setting.optional) problems.push(`${setting.env} is required: ${setting.doc}`);
      continue;
    }
    try {
      values[key] = setting.parse(raw);
    } catch (error) {
      const shown = setting.secret ? "(secret value not shown)" : JSON.stringify(raw);
      problems.push(`${setting.env}=${shown} is invalid: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as Settings<S>;
}

/** A markdown table of a schema, for docs/configuration.md. */
export function describeSettings(schema: SettingsSchema): string {
  const rows = Object.values(schema).map((setting) => {
    const fallback = setting.fallbackText ?? (typeof setting.fallback === "string" ? `\`${setting.fallback}\`` : setting.optional ? "unset" : "required");
    return `| \`${setting.env}\` | ${fallback} | ${setting.doc.replaceAll("|", "\\|")} |`;
  });
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n");
}

// ---- parsers -------------------------------------------------------------------------------

function setting<T>(env: string, doc: string, parse: (raw: string) => T, fallback?: Setting<T>["fallback"], extra: Partial<Setting<T>> = {}): Setting<T> {
  return { env, doc, parse, fallback, ...extra };
}

export function integerSetting(env: string, doc: string, fallback: number | undefined, bounds: { min: number; max: number }): Setting<number> {
  return setting(env, doc, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Error("must be an integer");
    const value = Number(raw.trim());
    if (value < bounds.min || value > bounds.max) throw new Error(`must be between ${bounds.min} and ${bounds.max}`);
    return value;
  }, fallback === undefined ? undefined : String(fallback));
}

export function portSetting(env: string, doc: string, fallback: number): Setting<number> {
  return integerSetting(env, doc, fallback, { min: 0, max: 65535 });
}

export function stringSetting(env: string, doc: string, fallback?: string, pattern?: RegExp): Setting<string> {
  return setting(env, doc, (raw) => {
    if (pattern && !pattern.test(raw)) throw new Error(`must match ${pattern}`);
    return raw;
  }, fallback);
}

export function optionalStringSetting(env: string, doc: string): Setting<string> {
  return setting(env, doc, (raw) => raw, undefined, { optional: true });
}

export function enumSetting<T extends string>(env: string, doc: string, fallback: T, allowed: readonly T[]): Setting<T> {
  return setting(env, doc, (raw) => {
    if (!allowed.includes(raw as T)) throw new Error(`must be one of ${allowed.join(", ")}`);
    return raw as T;
  }, fallback);
}

export function urlSetting(env: string, doc: string, fallback: string | undefined, protocols: readonly string[]): Setting<string> {
  return setting(env, doc, (raw) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new Error("is not a URL");
    }
    if (!protocols.includes(parsed.protocol)) throw new Error(`must use ${protocols.join(" or ")}`);
    return raw;
  }, fallback, { secret: true });
}

/** host:port of a gRPC endpoint. */
export function addressSetting(env: string, doc: string, fallback: string): Setting<string> {
  return setting(env, doc, (raw) => {
    if (!/^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$/.test(raw)) throw new Error("must be host:port");
    return raw;
  }, fallback);
}

/** A 32-byte Ed25519 public key in hex, optionally prefixed by "<key id>:". */
export function publicKeySetting(env: string, doc: string, defaultKeyId: string, fallback?: Setting<unknown>["fallback"], fallbackText?: string): Setting<{ keyId: string; publicKey: Uint8Array }> {
  return setting(env, doc, (raw) => {
    const [keyId, hex] = raw.includes(":") ? raw.split(":", 2) as [string, string] : [defaultKeyId, raw];
    if (!/^[0-9a-fA-F]{64}$/.test(hex.trim())) throw new Error("must be 64 hex characters (a 32-byte Ed25519 public key)");
    return { keyId, publicKey: Uint8Array.from(Buffer.from(hex.trim(), "hex")) };
  }, fallback as Setting<{ keyId: string; publicKey: Uint8Array }>["fallback"], { fallbackText });
}

export function pathSetting(env: string, doc: string, fallback: Setting<string>["fallback"], fallbackText?: string): Setting<string> {
  return setting(env, doc, (raw) => path.resolve(raw), fallback, { fallbackText });
}

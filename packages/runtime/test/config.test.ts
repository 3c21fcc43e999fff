// Settings validation (every bad variable at once, secrets never echoed) and key files.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigningKey, generateSeed, publicKeyFromSeed, toHex } from "@clearmesh/trust";
import { ConfigError, loadSettings } from "../src/config.js";
import { KeyFileError, ensureKeyFiles, loadSigningKey, writeKeyFiles } from "../src/keyfiles.js";
import { commonSettings } from "../src/settings.js";

let dataDir: string;
const anchor = toHex(createSigningKey("clearing", "clearing-1", generateSeed()).publicKey);
const operatorAnchor = toHex(createSigningKey("operator", "operator-1", generateSeed()).publicKey);

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-config-"));
});

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadSettings", () => {
  it("loads a valid environment with defaults and parsed values", () => {
    const settings = loadSettings(commonSettings("clearing"), {
      CLEARMESH_DATA_DIR: dataDir, GRPC_PORT: "0", OPERATOR_PUBLIC_KEY: `op-7:${operatorAnchor}`, CLEARING_PUBLIC_KEY: anchor,
    });
    expect(settings.grpcPort).toBe(0);
    expect(settings.httpPort).toBe(8051);
    expect(settings.operatorPublicKey.keyId).toBe("op-7");
    expect(toHex(settings.operatorPublicKey.publicKey)).toBe(operatorAnchor);
    expect(settings.clearingPublicKey.keyId).toBe("clearing-1");
    expect(settings.storeUrl).toBe(`sqlite:${path.join(dataDir, "clearing.db")}`);
    expect(settings.identityKeyFile).toBe(path.join(dataDir, "keys", "clearing.key"));
    expect(settings.tlsCertFile).toBeUndefined();
  });

  it("reports every bad variable by name at once", () => {
    const error = configError(() => loadSettings(commonSettings("clearing"), {
      CLEARMESH_DATA_DIR: dataDir, GRPC_PORT: "abc", HTTP_PORT: "70000", OPERATOR_PUBLIC_KEY: "zz", LOG_LEVEL: "loud",
      // CLEARING_PUBLIC_KEY missing, and no <data>/keys/clearing.pub to fall back on.
    }));
    const named = (variable: string) => error.problems.filter((problem) => problem.startsWith(`${variable}`));
    for (const variable of ["GRPC_PORT", "HTTP_PORT", "OPERATOR_PUBLIC_KEY", "LOG_LEVEL", "CLEARING_PUBLIC_KEY"]) {
      expect(named(variable), variable).toHaveLength(1);
      expect(error.message).toContain(variable);
    }
    expect(error.problems).toHaveLength(5);
    expect(named("CLEARING_PUBLIC_KEY")[0]).toContain("required");
    expect(named("GRPC_PORT")[0]).toContain("integer");
  });

  it("never echoes a secret setting's value", () => {
    const secretUrl = "mysql://admin:hunter2-very-secret@db.internal/clearing";
    const error = configError(() => loadSettings(commonSettings("clearing"), {
      CLEARMESH_DATA_DIR: dataDir, GRPC_PORT: "abc", OPERATOR_PUBLIC_KEY: "zz", CLEARING_PUBLIC_KEY: anchor, STORE_URL: secretUrl,
    }));
    expect(error.problems.some((problem) => problem.startsWith("STORE_URL"))).toBe(true);
    expect(error.message).not.toContain("hunter2");
    expect(error.message).not.toContain("db.internal");
    expect(error.message).toContain("secret value not shown");
    // A non-secret value is shown, so the operator can see what was wrong.
    expect(error.message).toContain(`GRPC_PORT="abc"`);
  });

  it("reads a trust anchor from <data>/keys/<id>.pub when the variable is unset", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-anchors-"));
    try {
      const seed = generateSeed();
      writeKeyFiles(path.join(dir, "keys"), "operator", seed);
      const settings = loadSettings(commonSettings("wallet"), { CLEARMESH_DATA_DIR: dir, CLEARING_PUBLIC_KEY: anchor });
      expect(settings.operatorPublicKey.keyId).toBe("operator-1");
      expect(toHex(settings.operatorPublicKey.publicKey)).toBe(toHex(publicKeyFromSeed(seed)));
      expect(settings.grpcPort).toBe(50053);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("key files", () => {
  it("a missing key file throws KeyFileError naming the file", () => {
    const file = path.join(dataDir, "keys", "nobody.key");
    expect(() => loadSigningKey(file, "nobody", "nobody-1")).toThrow(KeyFileError);
    try {
      loadSigningKey(file, "nobody", "nobody-1");
    } catch (error) {
      expect((error as KeyFileError).file).toBe(file);
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toContain("missing");
    }
  });

  it("a corrupt key file throws KeyFileError naming the file, without echoing its content", () => {
    const file = path.join(dataDir, "corrupt.key");
    const content = `${"ab".repeat(31)}zz-almost-a-seed-s3cr3t`;
    fs.writeFileSync(file, content);
    let caught: unknown;
    try {
      loadSigningKey(file, "bank-a", "bank-a-1");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(KeyFileError);
    const message = (caught as Error).message;
    expect(message).toContain(file);
    expect(message).toContain("corrupt");
    expect(message).not.toContain("s3cr3t");
    expect(message).not.toContain("abab");
  });

  it("ensureKeyFiles writes a 0600 seed and a .pub that match, and loads the same key again", () => {
    const keysDir = path.join(dataDir, "keys-ensure");
    const first = ensureKeyFiles(keysDir, "bank-a");
    const second = ensureKeyFiles(keysDir, "bank-a");
    expect(toHex(second.publicKey)).toBe(toHex(first.publicKey));
    expect(second.keyId).toBe("bank-a-1");
    expect(fs.statSync(path.join(keysDir, "bank-a.key")).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(keysDir, "bank-a.pub"), "utf8").trim()).toBe(toHex(first.publicKey));
  });
});

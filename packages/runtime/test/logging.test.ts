// createLogger: JSON lines with secrets redacted by field name.
import { describe, expect, it } from "vitest";
import { SECRET_FIELD_NAMES } from "@clearmesh/trust";
import { createLogger } from "../src/logging.js";

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ service: "test", level: "info", destination: { write: (line: string) => { lines.push(line); } } });
  return { logger, lines, last: () => JSON.parse(lines.at(-1)!) as Record<string, unknown> };
}

describe("createLogger", () => {
  it("writes JSON with the service name and the message", () => {
    const { logger, last } = capture();
    logger.info({ user: "alice" }, "hello");
    expect(last()).toMatchObject({ service: "test", msg: "hello", user: "alice", level: 30 });
  });

  it("honours the level", () => {
    const lines: string[] = [];
    const logger = createLogger({ service: "test", level: "warn", destination: { write: (line: string) => { lines.push(line); } } });
    logger.info("quiet");
    logger.warn("loud");
    expect(lines).toHaveLength(1);
  });

  it("redacts password, seed, nested pan and authorization, and keeps everything else", () => {
    const { logger, lines, last } = capture();
    logger.info({
      password: "hunter2",
      seed: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
      card: { pan: "4111111111111111", expiry: "12/30" },
      headers: { authorization: "Bearer session-token-abc", "user-agent": "curl" },
      request: { headers: { authorization: "Bearer nested-token-xyz" } },
      participantId: "bank-a",
    }, "call");
    const entry = last();
    expect(entry.password).toBe("[REDACTED]");
    expect(entry.seed).toBe("[REDACTED]");
    expect(entry.card).toEqual({ pan: "[REDACTED]", expiry: "12/30" });
    expect(entry.headers).toEqual({ authorization: "[REDACTED]", "user-agent": "curl" });
    expect(entry.request).toEqual({ headers: { authorization: "[REDACTED]" } });
    expect(entry.participantId).toBe("bank-a");
    const text = lines.join("");
    for (const secret of ["hunter2", "00112233445566778899", "4111111111111111", "session-token-abc", "nested-token-xyz"]) {
      expect(text).not.toContain(secret);
    }
  });

  it("does not change the object that was logged", () => {
    const { logger } = capture();
    const logged = { password: "hunter2", card: { pan: "4111111111111111" } };
    logger.info(logged, "call");
    expect(logged).toEqual({ password: "hunter2", card: { pan: "4111111111111111" } });
  });

  it("redacts a secret three levels down (\"wherever they sit\", logging.ts)", () => {
    const { logger, lines } = capture();
    logger.info({ payment: { source: { card: { pan: "4000056655665556" } } } }, "deep");
    expect(lines.join("")).not.toContain("4000056655665556");
  });

  it("redacts every field name @clearmesh/trust lists as secret (SECRET_FIELD_NAMES), top level and nested", () => {
    const { logger, lines } = capture();
    const leaked: string[] = [];
    for (const name of SECRET_FIELD_NAMES) {
      const value = `leak-${name}-value`;
      lines.length = 0;
      logger.info({ [name]: value, nested: { [name]: value } }, "names");
      if (lines.join("").includes(value)) leaked.push(name);
    }
    expect(leaked).toEqual([]);
  });
});

import pino from "pino";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  SECRET_FIELD_NAMES,
  maskAccountNumber,
  maskEmail,
  maskPan,
  maskPhone,
  redactSecrets,
  secretRedactPaths,
} from "../src/index.js";

describe("masking", () => {
  it("masks card numbers to the last four digits", () => {
    expect(maskPan("4242424242424242")).toBe("**** 4242");
    expect(maskPan("4242 4242 4242 4242")).toBe("**** 4242");
    expect(maskPan("4242")).toBe("****");
    expect(maskPan("not a card 4242")).toBe("****");
  });

  it("masks account numbers", () => {
    expect(maskAccountNumber("DE89370400440532013000")).toBe("****3000");
    expect(maskAccountNumber("12345678")).toBe("****5678");
    expect(maskAccountNumber("1234567")).toBe("****");
  });

  it("masks email addresses", () => {
    expect(maskEmail("alice@example.com")).toBe("a***@example.com");
    expect(maskEmail("a@example.com")).toBe("***@example.com");
    expect(maskEmail("not-an-email")).toBe("***");
  });

  it("masks phone numbers keeping the plus and the last four digits", () => {
    expect(maskPhone("+15551234567")).toBe("+*******4567");
    expect(maskPhone("+1 555 123 4567")).toBe("+*******4567");
    expect(maskPhone("5551234")).toBe("*******");
  });
});

describe("secret redaction", () => {
  it("lists the secret fields, and not the signature header", () => {
    for (const name of ["password", "seed", "totp_secret", "session_token", "pan", "account_number", "authorization"]) {
      expect(SECRET_FIELD_NAMES).toContain(name);
    }
    expect(SECRET_FIELD_NAMES).not.toContain("cm-signature");
  });

  it("redacts nested secret fields in a copy", () => {
    const input = { user: { email: "a@b.c", Password: "hunter2", sessions: [{ sessionToken: "t" }] }, "cm-signature": "sig" };
    expect(redactSecrets(input)).toEqual({
      user: { email: "a@b.c", Password: "[REDACTED]", sessions: [{ sessionToken: "[REDACTED]" }] },
      "cm-signature": "sig",
    });
    expect(input.user.Password).toBe("hunter2");
  });

  it("gives pino paths that redact top-level and nested secrets", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ redact: secretRedactPaths() }, sink);
    logger.info({ password: "hunter2", req: { authorization: "Bearer abc", "set-cookie": "s=1", path: "/x" } }, "login");
    const line = lines.join("");
    expect(line).not.toContain("hunter2");
    expect(line).not.toContain("Bearer abc");
    expect(line).not.toContain("s=1");
    expect(line).toContain('"path":"/x"');
  });
});

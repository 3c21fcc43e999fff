// The field rules clearing and the wallets share: one rule, one message, each service's error.
import { describe, expect, it } from "vitest";
import { aliasOf, fieldChecks, normalizedEmail, pageToken } from "../src/index.js";

class Invalid extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}
const checks = fieldChecks((field, message) => new Invalid(field, message));
const refusal = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    return { field: (error as Invalid).field, message: (error as Invalid).message };
  }
  throw new Error("expected a refusal");
};

describe("fieldChecks", () => {
  it("pages: 0 means 50, at most 500; a token carries the last sort key and nothing else is accepted", () => {
    expect([checks.pageLimit(undefined), checks.pageLimit(0), checks.pageLimit(1), checks.pageLimit(500)]).toEqual([50, 50, 1, 500]);
    for (const size of [-1, 501, 2.5]) expect(refusal(() => checks.pageLimit(size))).toEqual({ field: "page.page_size", message: "must be 0 to 500" });
    expect(checks.pageAfter("", 2)).toBeUndefined();
    expect(checks.pageAfter(pageToken(["1700000000000", "pi_1"]), 2)).toEqual(["1700000000000", "pi_1"]);
    expect(checks.pageAfter(pageToken(["bank-a"]), 1)).toEqual(["bank-a"]);
    for (const token of ["not-ours", pageToken(["a", "b"]), Buffer.from("x1:bank-a").toString("base64url")]) {
      expect(refusal(() => checks.pageAfter(token, 1))).toEqual({ field: "page.page_token", message: "is not a token this server issued" });
    }
  });

  it("accepts ids, currencies and positive int64 money, and names the field of a bad one", () => {
    expect(checks.requireId("transfer_id", "01J9Z-a.b:c_d")).toBe("01J9Z-a.b:c_d");
    expect(refusal(() => checks.requireId("transfer_id", ""))).toEqual({ field: "transfer_id", message: "must be 1-64 characters of [A-Za-z0-9._:-] (a UUID or ULID)" });
    expect(refusal(() => checks.requireId("transfer_id", "x".repeat(65)))).toMatchObject({ field: "transfer_id" });
    expect(refusal(() => checks.requireCurrency("amount.currency", "usd"))).toMatchObject({ field: "amount.currency" });
    expect(checks.requirePositiveMoney("amount", { currency: "EUR", amountMinor: 1n } as never)).toEqual({ currency: "EUR", amountMinor: 1n });
    expect(refusal(() => checks.requirePositiveMoney("amount", undefined))).toEqual({ field: "amount", message: "is required" });
    expect(refusal(() => checks.requirePositiveMoney("amount", { currency: "EUR", amountMinor: 0n } as never))).toEqual({ field: "amount.amount_minor", message: "must be positive" });
    expect(refusal(() => checks.requirePositiveMoney("amount", { currency: "EUR", amountMinor: 2n ** 63n } as never))).toEqual({ field: "amount.amount_minor", message: "exceeds int64" });
    expect(refusal(() => checks.requirePositiveMoney("amount", { currency: "E", amountMinor: 5n } as never))).toMatchObject({ field: "amount.currency" });
  });
});

describe("participant ids and text", () => {
  it("checks participant ids and refuses control characters (C0 and DEL), blanks when required, and length", () => {
    expect(checks.requireParticipantId("payer_id", "bank-a")).toBe("bank-a");
    expect(refusal(() => checks.requireParticipantId("payer_id", "Bank-A"))).toEqual({ field: "payer_id", message: "must match [a-z0-9][a-z0-9-]{2,31}" });
    expect(checks.requireText("payer_reference", "inv 42", 10)).toBe("inv 42");
    expect(checks.requireText("payer_reference", "", 10)).toBe("");
    expect(refusal(() => checks.requireText("name", "  ", 10, true))).toEqual({ field: "name", message: "is required" });
    expect(refusal(() => checks.requireText("payer_reference", "x".repeat(11), 10))).toEqual({ field: "payer_reference", message: "must be at most 10 characters" });
    for (const bad of ["a\nb", "a\u0000b", "a\u007fb"]) {
      expect(refusal(() => checks.requireText("payer_reference", bad, 10))).toEqual({ field: "payer_reference", message: "must not contain control characters" });
    }
  });
});

describe("the alias rule", () => {
  it("keeps an E.164 number as is and lower-cases an e-mail address", () => {
    expect(aliasOf("+15551230001")).toEqual({ alias: "+15551230001", kind: "phone" });
    expect(aliasOf("Alice.Example@Example.COM")).toEqual({ alias: "alice.example@example.com", kind: "email" });
    expect(normalizedEmail("Bob@Example.org")).toBe("bob@example.org");
  });

  it("refuses what is neither", () => {
    for (const value of ["", "+0155512300", "+1555", "15551230001", "alice@", "@example.com", "alice@example", "a b@example.com", `${"a".repeat(65)}@example.com`]) {
      expect(aliasOf(value), value).toBeUndefined();
    }
  });
});

// Templates per kind: exact texts, money for the locale, HTML escaping, SMS length, and the checks
// made on a request before its secrets are opened.
import { describe, expect, it } from "vitest";
import { checkTemplateInput, effectiveLocale, renderMessage, SMS_MAX_CHARS, TEMPLATE_SPECS } from "../src/templates/index.js";
import { safeHint } from "../src/recipients.js";

const usd = (amountMinor: string) => JSON.stringify({ currency: "USD", amountMinor });
const eur = (amountMinor: string) => JSON.stringify({ currency: "EUR", amountMinor });
const render = (kind: string, locale: string, parameters: Record<string, string>, secrets: Record<string, string> = {}) => {
  const rendered = renderMessage({ kind, locale, parameters, secrets });
  if ("reason" in rendered) throw new Error(`${rendered.reason}: ${rendered.detail}`);
  return rendered;
};

describe("templates", () => {
  it("payment.succeeded in en-US", () => {
    expect(render("payment.succeeded", "en-US", { amount: usd("1250"), merchant: "Acme Books", reference: "order-7" })).toEqual({
      subject: "You paid $12.50 to Acme Books",
      text: "Your payment of $12.50 to Acme Books succeeded. Reference: order-7.\n\nThis message was sent by clearmesh. Please do not reply.\n",
      html: expect.stringContaining("<p>Your payment of $12.50 to Acme Books succeeded. Reference: order-7.</p>"),
      sms: "clearmesh: you paid $12.50 to Acme Books.",
    });
  });

  it("payment.refunded in de-DE, with money laid out for the locale", () => {
    const message = render("payment.refunded", "de-DE", { amount: eur("1250"), merchant: "Buchladen" });
    expect(message.subject).toBe("Buchladen hat 12,50\u00a0€ erstattet");
    expect(message.sms).toBe("clearmesh: Buchladen hat Ihnen 12,50\u00a0€ erstattet.");
  });

  it("other languages get English words and their own money format", () => {
    expect(render("transfer.received", "fr-FR", { amount: eur("123456"), sender: "Bob" }).sms).toBe("clearmesh: you received 1\u202f234,56\u00a0€ from Bob.");
  });

  it("mandate.code carries the opened code", () => {
    const message = render("mandate.code", "en-GB", { payee: "Acquirer A", expires_minutes: "10" }, { code: "493817", email: "a@example.com" });
    expect(message.text).toContain("Your code to approve the mandate for Acquirer A: 493817\n\nThe code expires in 10 minutes.");
    expect(message.sms).toBe("clearmesh: 493817 is your code to approve the mandate for Acquirer A. Do not share it.");
  });

  it("mandate.code with the parameters the bank-adapter sends", () => {
    const message = render("mandate.code", "en-US", {
      mandate_id: "m-1", bank_id: "bank-a", payee_id: "wallet-a", masked_account_number: "****3000",
      per_transfer_limit: usd("50000"), daily_limit: usd("200000"), per_transfer_limit_text: "500.00 USD", code_expires_at: "2026-11-30T10:15:00.000Z",
    }, { code: "123456", phone: "+15551234567" });
    // ICU versions differ in the space before AM (U+202F or a plain one).
    expect(message.text.replace("\u202f", " ")).toBe([
      "Your code to approve the mandate for wallet-a on account ****3000: 123456",
      "Limit per transfer: $500.00. Limit per day: $2,000.00.",
      "The code expires on Nov 30, 2026, 10:15 AM UTC.",
      "If you did not ask for it, ignore this message and do not share the code.",
      "This message was sent by clearmesh. Please do not reply.",
    ].join("\n\n") + "\n");
    expect(message.sms).toBe("clearmesh: 123456 is your code to approve the mandate for wallet-a. Do not share it.");
  });

  it("movement.failed and a payment without a merchant, as the wallet sends them", () => {
    expect(render("movement.failed", "en-US", { amount: usd("2500"), movement: "withdrawal", reason: "INSUFFICIENT_FUNDS" }).sms)
      .toBe("clearmesh: your withdrawal of $25.00 did not go through (INSUFFICIENT_FUNDS).");
    expect(render("movement.failed", "de-DE", { amount: eur("2500"), movement: "top_up" }).subject).toBe("Ihre Aufladung über 25,00\u00a0€ ist fehlgeschlagen");
    expect(render("payment.succeeded", "en-US", { amount: usd("999") }).subject).toBe("You paid $9.99");
  });

  it("topup.completed with and without a balance; JPY and KWD minor units", () => {
    expect(render("topup.completed", "en-US", { amount: JSON.stringify({ currency: "JPY", amountMinor: "5000" }) }).sms).toBe("clearmesh: top-up of ¥5,000 completed.");
    expect(render("topup.completed", "en-US", { amount: JSON.stringify({ currency: "KWD", amountMinor: "1250" }), balance: JSON.stringify({ currency: "KWD", amountMinor: "20500" }) }).text)
      .toBe("Your top-up of KWD\u00a01.250 is in your wallet.\n\nYour balance is now KWD\u00a020.500.\n\nThis message was sent by clearmesh. Please do not reply.\n");
  });

  it("operator alerts", () => {
    const message = render("operator.position_threshold", "en-US", {
      participant: "bank-a", exposure: usd("800000"), cap: usd("1000000"), threshold_percent: "80", direction: "above",
    });
    expect(message.subject).toBe("[clearmesh alert] bank-a: exposure rose above 80% of its cap");
    expect(message.text).toContain("is $8,000.00, against a net debit cap of $10,000.00");
    expect(render("operator.settlement_failed", "en-US", { window_id: "w-7", attempt: "2", failure_reason: "INSUFFICIENT_FUNDS bank-b" }).subject)
      .toBe("[clearmesh alert] settlement window w-7 failed");
  });

  it("escapes parameters in HTML and strips control characters", () => {
    const message = render("payment.succeeded", "en-US", { amount: usd("1"), merchant: "<b>Evil</b>\r\nBcc: x" });
    expect(message.html).toContain("&lt;b&gt;Evil&lt;/b&gt; Bcc: x");
    expect(message.subject).toBe("You paid $0.01 to <b>Evil</b> Bcc: x");
  });

  it("cuts an SMS that would be too long", () => {
    const sms = render("mandate.code", "en-US", { payee: "P".repeat(200) }, { code: "1".repeat(150) }).sms;
    expect(sms.length).toBe(SMS_MAX_CHARS);
    expect(sms.endsWith("…")).toBe(true);
  });

  it("checks a request without its secrets", () => {
    expect(checkTemplateInput("nope", {}, [])).toEqual({ reason: "UNKNOWN_KIND", detail: 'no template for kind "nope"' });
    expect(checkTemplateInput("payment.succeeded", { merchant: "M" }, [])?.detail).toBe("parameter amount is missing");
    expect(checkTemplateInput("payment.succeeded", { merchant: "M", amount: '{"currency":"USD","amountMinor":12}' }, [])?.reason).toBe("INVALID_PARAMETERS");
    expect(checkTemplateInput("payment.succeeded", { merchant: "M".repeat(201), amount: usd("1") }, [])?.detail).toBe("parameter merchant is longer than 200 characters");
    expect(checkTemplateInput("mandate.code", { payee: "P" }, ["email"])?.detail).toBe("sealed parameter code is missing");
    expect(checkTemplateInput("mandate.code", { payee: "P" }, ["email", "code"])).toBeUndefined();
  });

  it("has every kind the issue names, in English and German", () => {
    for (const kind of ["mandate.code", "movement.failed", "payment.succeeded", "payment.refunded", "transfer.received", "topup.completed", "operator.position_threshold", "operator.settlement_failed"]) {
      expect(TEMPLATE_SPECS[kind], kind).toBeDefined();
    }
  });

  it("falls back to the default locale for an invalid one", () => {
    expect(effectiveLocale("not a locale!", "en-US")).toBe("en-US");
    expect(effectiveLocale("", "de-DE")).toBe("de-DE");
    expect(effectiveLocale("de-at", "en-US")).toBe("de-AT");
  });
});

describe("safeHint", () => {
  it("keeps masked hints and masks whole addresses a producer slipped in", () => {
    expect(safeHint("a***@example.com")).toBe("a***@example.com");
    expect(safeHint("alice@example.com")).toBe("a***@example.com");
    expect(safeHint("+15551234567")).toBe("+*******4567");
    expect(safeHint("+*******4567")).toBe("+*******4567");
  });
});

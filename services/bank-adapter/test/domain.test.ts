// The bank's pure parts: check digits, account numbers, money text, card checks, and the
// statement documents (camt.053 parsed back with a strict parser, CSV).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ACCOUNT_NUMBER_DIGITS, accountNumber, bankCode, isAccountNumberOf, isLuhnValid, luhnCheckDigit } from "../src/accounts/numbers.js";
import { cardExpired, expiryProblem, panProblem } from "../src/cards/pan.js";
import { formatMinor, minorDigits, parseMinor } from "@clearmesh/runtime";
import { CAMT053_NAMESPACE, statementCamt053 } from "../src/statements/camt053.js";
import { statementCsv } from "../src/statements/csv.js";
import type { StatementData, StatementEntryData } from "../src/statements/model.js";
import { allElements, at, child, children, parseXml } from "./support/xml.js";

describe("Luhn and account numbers", () => {
  it("computes the Luhn check digit of the textbook examples", () => {
    expect(luhnCheckDigit("7992739871")).toBe(3);
    expect(isLuhnValid("79927398713")).toBe(true);
    expect(isLuhnValid("4242424242424242")).toBe(true);
    expect(isLuhnValid("4242424242424241")).toBe(false);
    expect(isLuhnValid("4242 4242")).toBe(false);
  });

  it("makes 15-digit numbers: bank code, ten-digit sequence, check digit", () => {
    const number = accountNumber("bank-a", 42n);
    expect(number).toHaveLength(ACCOUNT_NUMBER_DIGITS);
    expect(number.slice(0, 4)).toBe(bankCode("bank-a"));
    expect(number.slice(4, 14)).toBe("0000000042");
    expect(isAccountNumberOf("bank-a", number)).toBe(true);
    expect(bankCode("bank-a")).not.toBe(bankCode("bank-b"));
    expect(() => accountNumber("bank-a", 0n)).toThrow(RangeError);
    expect(() => accountNumber("bank-a", 10_000_000_000n)).toThrow(RangeError);
  });

  it("catches every single wrong digit", () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 9_999_999_999n }), fc.integer({ min: 0, max: 14 }), fc.integer({ min: 1, max: 9 }), (sequence, index, shift) => {
      const number = accountNumber("bank-a", sequence);
      const wrong = number.slice(0, index) + String((Number(number[index]) + shift) % 10) + number.slice(index + 1);
      expect(isLuhnValid(wrong)).toBe(false);
    }));
  });
});

describe("money text", () => {
  it("writes minor units with the currency's digits, exactly", () => {
    expect(formatMinor(123_456n, "USD")).toBe("1234.56");
    expect(formatMinor(5n, "USD")).toBe("0.05");
    expect(formatMinor(0n, "EUR")).toBe("0.00");
    expect(formatMinor(1_200n, "JPY")).toBe("1200");
    expect(formatMinor(5n, "KWD")).toBe("0.005");
    expect(formatMinor(1_234_567n, "KWD")).toBe("1234.567");
    expect(formatMinor(-250n, "USD")).toBe("-2.50");
    expect(formatMinor(9_223_372_036_854_775_807n, "USD")).toBe("92233720368547758.07");
    expect([minorDigits("JPY"), minorDigits("USD"), minorDigits("KWD")]).toEqual([0, 2, 3]);
  });

  it("reads back what it writes", () => {
    fc.assert(fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom("USD", "JPY", "KWD", "CLF"), (amount, currency) => {
      expect(parseMinor(formatMinor(amount, currency), currency)).toBe(amount);
    }));
  });
});

describe("card checks", () => {
  it("accepts 12-19 Luhn-valid digits only, and never echoes the PAN", () => {
    expect(panProblem("4242424242424242")).toBeUndefined();
    expect(panProblem("4242424242424241")).toBe("fails the Luhn check");
    expect(panProblem("42424242424")).toMatch(/12 to 19 digits/);
    expect(panProblem("4242 4242 4242 4242")).toBe("must be digits only");
    for (const pan of ["4242424242424241", "4242 4242 4242 4242", "4000"]) expect(panProblem(pan) ?? "").not.toContain(pan);
  });

  it("treats a card as valid through its expiry month (UTC)", () => {
    const endOfMay = Date.UTC(2030, 4, 31, 23, 59, 59, 999);
    expect(cardExpired(5, 2030, endOfMay)).toBe(false);
    expect(cardExpired(5, 2030, endOfMay + 1)).toBe(true);
    expect(cardExpired(12, 2030, Date.UTC(2030, 11, 31, 12))).toBe(false);
    expect(cardExpired(12, 2030, Date.UTC(2031, 0, 1))).toBe(true);
    expect(expiryProblem(13, 2030)?.field).toBe("expiry_month");
    expect(expiryProblem(1, 30)?.field).toBe("expiry_year");
  });
});

const DAY_MS = 86_400_000;
const T0 = Date.UTC(2031, 2, 14, 9, 30);

function entry(postingId: string, direction: "CREDIT" | "DEBIT", amountMinor: bigint, balanceAfterMinor: bigint, bookedAtMs: number, endToEndId: string): StatementEntryData {
  return { postingId, kind: direction === "CREDIT" ? "CASH_DEPOSIT" : "MANDATE_PULL", direction, amountMinor, balanceAfterMinor, bookedAtMs, endToEndId, description: direction === "CREDIT" ? "cash deposit" : "mandate pull" };
}

function statement(currency: string, entries: StatementEntryData[], openingMinor: bigint, closingMinor: bigint): StatementData {
  return {
    statementId: "0123456789abcdef0123456789abcdef", messageId: "01HZZZZZZZZZZZZZZZZZZZZZZZ", createdAtMs: T0 + 2 * DAY_MS,
    accountId: "acc-1", maskedAccountNumber: "****1234", bankId: "bank-a", currency, fromMs: T0, toMs: T0 + DAY_MS, openingMinor, closingMinor, entries,
  };
}

describe("camt.053.001.08", () => {
  const entries = [
    entry("pst-1", "CREDIT", 10_000n, 12_500n, T0 + 1_000, "dep-1"),
    entry("pst-2", "DEBIT", 1_250n, 11_250n, T0 + 2_000, "pull-1"),
    entry("pst-3", "CREDIT", 5n, 11_255n, T0 + 3_000, "x".repeat(40)),
  ];

  it("is well formed, namespaced, and its balances add up", () => {
    const root = parseXml(statementCamt053(statement("USD", entries, 2_500n, 11_255n)));
    expect(root.name).toBe("Document");
    expect(allElements(root).every((element) => element.namespace === CAMT053_NAMESPACE)).toBe(true);
    expect(at(root, "BkToCstmrStmt/GrpHdr/MsgId").text).toBe("01HZZZZZZZZZZZZZZZZZZZZZZZ");
    expect(at(root, "BkToCstmrStmt/GrpHdr/CreDtTm").text).toBe("2031-03-16T09:30:00.000Z");
    const stmt = at(root, "BkToCstmrStmt/Stmt");
    expect(child(stmt, "Id").text).toBe("0123456789abcdef0123456789abcdef");
    expect(at(stmt, "Acct/Id/Othr/Id").text).toBe("****1234");
    const balances = children(stmt, "Bal").map((bal) => ({
      code: at(bal, "Tp/CdOrPrtry/Cd").text, amount: child(bal, "Amt").text, currency: child(bal, "Amt").attributes.Ccy,
      sign: child(bal, "CdtDbtInd").text, date: at(bal, "Dt/Dt").text,
    }));
    expect(balances).toEqual([
      { code: "OPBD", amount: "25.00", currency: "USD", sign: "CRDT", date: "2031-03-14" },
      { code: "CLBD", amount: "112.55", currency: "USD", sign: "CRDT", date: "2031-03-15" },
    ]);
    const ntries = children(stmt, "Ntry");
    expect(ntries).toHaveLength(3);
    expect(ntries.map((ntry) => at(ntry, "Sts/Cd").text)).toEqual(["BOOK", "BOOK", "BOOK"]);
    expect(ntries.map((ntry) => at(ntry, "NtryDtls/TxDtls/Refs/EndToEndId").text)).toEqual(["dep-1", "pull-1", "NOTPROVIDED"]);
    expect(at(ntries[2]!, "NtryDtls/TxDtls/AddtlTxInf").text).toBe(`end-to-end id ${"x".repeat(40)}`);
    expect(at(ntries[0]!, "BookgDt/DtTm").text).toBe("2031-03-14T09:30:01.000Z");
    expect(at(ntries[0]!, "ValDt/Dt").text).toBe("2031-03-14");
    const opening = parseMinor(balances[0]!.amount, "USD");
    const moved = ntries.reduce((sum, ntry) => sum + (child(ntry, "CdtDbtInd").text === "CRDT" ? 1n : -1n) * parseMinor(child(ntry, "Amt").text, "USD"), 0n);
    expect(opening + moved).toBe(parseMinor(balances[1]!.amount, "USD"));
  });

  it("writes JPY without decimals and KWD with three", () => {
    const yen = parseXml(statementCamt053(statement("JPY", [entry("pst-1", "CREDIT", 1_500n, 1_500n, T0, "d")], 0n, 1_500n)));
    expect(at(yen, "BkToCstmrStmt/Stmt/Ntry/Amt").text).toBe("1500");
    const dinar = parseXml(statementCamt053(statement("KWD", [entry("pst-1", "CREDIT", 1_005n, 1_005n, T0, "d")], 0n, 1_005n)));
    expect(at(dinar, "BkToCstmrStmt/Stmt/Ntry/Amt").text).toBe("1.005");
    expect(at(dinar, "BkToCstmrStmt/Stmt/Ntry/Amt").attributes.Ccy).toBe("KWD");
  });

  it("escapes text, and the parser refuses what is not XML", () => {
    const odd = statement("USD", [entry("pst-<1>", "CREDIT", 1n, 1n, T0, `a&b"c'<d>`)], 0n, 1n);
    expect(at(parseXml(statementCamt053(odd)), "BkToCstmrStmt/Stmt/Ntry/NtryDtls/TxDtls/Refs/EndToEndId").text).toBe(`a&b"c'<d>`);
    expect(() => parseXml("<a><b></a></b>")).toThrow(/closes/);
    expect(() => parseXml("<a>x & y</a>")).toThrow(/bare '&'/);
    expect(() => parseXml("<a></a><b/>")).toThrow(/after the root/);
    expect(() => parseXml("<a x='1' x='2'/>")).toThrow(/duplicate/);
  });
});

describe("CSV statement", () => {
  it("writes one line per posting with exact decimals", () => {
    const csv = statementCsv(statement("USD", [entry("pst-1", "CREDIT", 10_000n, 10_000n, T0, "dep-1"), entry("pst-2", "DEBIT", 1n, 9_999n, T0 + 1, "=cmd")], 0n, 9_999n));
    expect(csv.split("\r\n")).toEqual([
      "entry_id,booked_at,value_date,direction,amount,currency,balance_after,end_to_end_id,description",
      "pst-1,2031-03-14T09:30:00.000Z,2031-03-14,CREDIT,100.00,USD,100.00,dep-1,cash deposit",
      "pst-2,2031-03-14T09:30:00.001Z,2031-03-14,DEBIT,0.01,USD,99.99,\"'=cmd\",mandate pull",
      "",
    ]);
  });
});

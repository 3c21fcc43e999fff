// A statement as ISO 20022 camt.053.001.08 (BankToCustomerStatementV08), built as text: no XML
// library, every value escaped, elements in the schema's order. What it carries:
//
// Document/BkToCstmrStmt
//   GrpHdr: MsgId (new per document), CreDtTm
//   Stmt: Id (stable per account and period), CreDtTm, FrToDt,
//         Acct: Id/Othr/Id = the MASKED account number (the document leaves the bank: mail,
//               downloads; the full number stays sealed in the vault), Ccy, Svcr = the bank,
//         Bal OPBD (balance before the period) and Bal CLBD (after it): Tp/CdOrPrtry/Cd, Amt Ccy,
//               CdtDbtInd (CRDT: balances are never negative), Dt/Dt,
//         Ntry per posting: NtryRef, Amt Ccy, CdtDbtInd, Sts/Cd BOOK, BookgDt/DtTm, ValDt/Dt,
//               BkTxCd/Prtry/Cd (CLEARMESH:<kind>), NtryDtls/TxDtls/Refs/EndToEndId,
//               AddtlNtryInf (what it was).
//
// Amounts are decimals with the currency's minor digits (JPY 0, USD 2, KWD 3) from exact bigints.
// EndToEndId is Max35Text: an end-to-end id longer than 35 characters is written as NOTPROVIDED
// and given whole in TxDtls/AddtlTxInf.
import { formatMinor } from "@clearmesh/runtime";
import { isoDate, isoDateTime, type StatementData, type StatementEntryData } from "./model.js";

export const CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08";
export const CAMT053_CONTENT_TYPE = "application/xml";
const MAX35 = 35;

export function statementCamt053(statement: StatementData): string {
  const { currency } = statement;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<Document xmlns="${CAMT053_NAMESPACE}">`,
    `<BkToCstmrStmt>`,
    `<GrpHdr>${element("MsgId", statement.messageId)}${element("CreDtTm", isoDateTime(statement.createdAtMs))}</GrpHdr>`,
    `<Stmt>`,
    element("Id", statement.statementId),
    element("CreDtTm", isoDateTime(statement.createdAtMs)),
    `<FrToDt>${element("FrDtTm", isoDateTime(statement.fromMs))}${element("ToDtTm", isoDateTime(statement.toMs))}</FrToDt>`,
    `<Acct><Id><Othr>${element("Id", statement.maskedAccountNumber)}</Othr></Id>${element("Ccy", currency)}`
      + `<Svcr><FinInstnId><Othr>${element("Id", statement.bankId)}</Othr></FinInstnId></Svcr></Acct>`,
    balance("OPBD", statement.openingMinor, currency, isoDate(statement.fromMs)),
    balance("CLBD", statement.closingMinor, currency, isoDate(Math.max(statement.fromMs, statement.toMs - 1))),
    ...statement.entries.map((entry) => ntry(entry, currency)),
    `</Stmt>`,
    `</BkToCstmrStmt>`,
    `</Document>`,
  ];
  return `${lines.join("\n")}\n`;
}

function balance(code: "OPBD" | "CLBD", amountMinor: bigint, currency: string, date: string): string {
  return `<Bal><Tp><CdOrPrtry>${element("Cd", code)}</CdOrPrtry></Tp>${amount(amountMinor, currency)}`
    + `${element("CdtDbtInd", amountMinor < 0n ? "DBIT" : "CRDT")}<Dt>${element("Dt", date)}</Dt></Bal>`;
}

function ntry(entry: StatementEntryData, currency: string): string {
  const endToEnd = entry.endToEndId.length <= MAX35 ? entry.endToEndId : "NOTPROVIDED";
  const longId = entry.endToEndId.length > MAX35 ? element("AddtlTxInf", `end-to-end id ${entry.endToEndId}`) : "";
  return `<Ntry>${element("NtryRef", entry.postingId.slice(0, MAX35))}${amount(entry.amountMinor, currency)}`
    + `${element("CdtDbtInd", entry.direction === "CREDIT" ? "CRDT" : "DBIT")}<Sts>${element("Cd", "BOOK")}</Sts>`
    + `<BookgDt>${element("DtTm", isoDateTime(entry.bookedAtMs))}</BookgDt><ValDt>${element("Dt", isoDate(entry.bookedAtMs))}</ValDt>`
    + `<BkTxCd><Prtry>${element("Cd", `CLEARMESH:${entry.kind}`)}</Prtry></BkTxCd>`
    + `<NtryDtls><TxDtls><Refs>${element("EndToEndId", endToEnd)}</Refs>${longId}</TxDtls></NtryDtls>`
    + `${element("AddtlNtryInf", entry.description)}</Ntry>`;
}

/** Amounts are never signed in camt: the sign is CdtDbtInd. */
function amount(amountMinor: bigint, currency: string): string {
  const magnitude = amountMinor < 0n ? -amountMinor : amountMinor;
  return `<Amt Ccy="${escapeXml(currency)}">${formatMinor(magnitude, currency)}</Amt>`;
}

function element(name: string, text: string): string {
  return `<${name}>${escapeXml(text)}</${name}>`;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => XML_ESCAPES[character]!);
}

const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

// A statement as CSV (RFC 4180): a header line, then one line per posting, oldest first.
// Amounts are decimals with the currency's minor digits, from exact bigints.
import { formatMinor } from "@clearmesh/runtime";
import { isoDate, isoDateTime, type StatementData } from "./model.js";

export const CSV_CONTENT_TYPE = "text/csv";
export const CSV_HEADER = ["entry_id", "booked_at", "value_date", "direction", "amount", "currency", "balance_after", "end_to_end_id", "description"];

export function statementCsv(statement: StatementData): string {
  const lines = [CSV_HEADER.join(",")];
  for (const entry of statement.entries) {
    lines.push([
      entry.postingId, isoDateTime(entry.bookedAtMs), isoDate(entry.bookedAtMs), entry.direction,
      formatMinor(entry.amountMinor, statement.currency), statement.currency, formatMinor(entry.balanceAfterMinor, statement.currency),
      entry.endToEndId, entry.description,
    ].map(csvField).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

/**
 * Quotes a field when it holds a separator, a quote or a line break; a field that a spreadsheet
 * would run as a formula (leading = + - @) is quoted with a leading apostrophe.
 */
function csvField(value: string): string {
  const safe = /^[=+\-@]/.test(value) && !/^-?\d/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) || safe !== value ? `"${safe.replaceAll('"', '""')}"` : safe;
}

// Money as decimals from exact minor units (no floats), and plain-text tables.

const MINOR_DIGITS: Record<string, number> = { JPY: 0, KRW: 0, BHD: 3, KWD: 3 };

export function formatMinor(amountMinor: bigint, currency = "USD"): string {
  const digits = MINOR_DIGITS[currency] ?? 2;
  const negative = amountMinor < 0n;
  const absolute = (negative ? -amountMinor : amountMinor).toString().padStart(digits + 1, "0");
  const whole = absolute.slice(0, absolute.length - digits);
  const fraction = digits > 0 ? `.${absolute.slice(absolute.length - digits)}` : "";
  return `${negative ? "-" : ""}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${fraction}`;
}

export function money(amountMinor: bigint, currency = "USD"): string {
  return `${formatMinor(amountMinor, currency)} ${currency}`;
}

/** A table with a header row; columns after the first are right-aligned. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join("  ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)];
}

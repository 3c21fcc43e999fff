// Templates per notification kind: a subject, a text and an HTML e-mail, and a short SMS, in
// English or German (other languages get English), with money laid out for the full locale.
// Pure: no I/O; the dispatcher renders at send time, with the unsealed secrets in memory only.
import { formatMoney, parseMoneyParameter } from "../money.js";
import { escapeHtml, htmlDocument } from "./html.js";
import { TEXTS, type Language, type Phrases } from "./texts.js";

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
  sms: string;
}

/** The parameters a kind takes. Money parameters are Money JSON; secrets are sealed parameters. */
export interface TemplateSpec {
  money: readonly string[];
  optionalMoney: readonly string[];
  text: readonly string[];
  optionalText: readonly string[];
  /** ISO 8601 instants, shown in the locale's format (in UTC); unparseable ones are left out. */
  optionalTime: readonly string[];
  secrets: readonly string[];
}

// Parameter names follow what the producers send (bank-adapter's mandates, the wallet's movements).
export const TEMPLATE_SPECS: Readonly<Record<string, TemplateSpec>> = {
  "mandate.code": spec({
    optionalText: ["payee", "payee_id", "masked_account_number", "expires_minutes"],
    optionalMoney: ["per_transfer_limit", "daily_limit"], optionalTime: ["code_expires_at"], secrets: ["code"],
  }),
  "payment.succeeded": spec({ money: ["amount"], optionalText: ["merchant", "reference"] }),
  "payment.refunded": spec({ money: ["amount"], optionalText: ["merchant", "reference"] }),
  "transfer.received": spec({ money: ["amount"], optionalText: ["sender"] }),
  "transfer.sent": spec({ money: ["amount"], optionalText: ["payee"] }),
  "topup.completed": spec({ money: ["amount"], optionalMoney: ["balance"] }),
  "withdrawal.completed": spec({ money: ["amount"], optionalMoney: ["balance"] }),
  "movement.failed": spec({ money: ["amount"], optionalText: ["movement", "reason"] }),
  "operator.position_threshold": spec({ money: ["exposure", "cap"], text: ["participant", "threshold_percent", "direction"] }),
  "operator.settlement_failed": spec({ text: ["window_id", "attempt"], optionalText: ["failure_reason", "failed_instructions"] }),
};

function spec(parts: Partial<TemplateSpec>): TemplateSpec {
  return { money: [], optionalMoney: [], text: [], optionalText: [], optionalTime: [], secrets: [], ...parts };
}

/** Longest text parameter shown; longer ones are refused (they would not fit an SMS anyway). */
export const MAX_TEXT_PARAMETER_CHARS = 200;
/** An SMS longer than this is cut (and ends in "…"); gateways split longer ones into parts. */
export const SMS_MAX_CHARS = 320;

export type TemplateProblem = { reason: "UNKNOWN_KIND" | "INVALID_PARAMETERS"; detail: string };

/** Checks a request's kind and plain parameters, and that its secrets are present (not opened). */
export function checkTemplateInput(kind: string, parameters: Readonly<Record<string, string>>, sealedNames: readonly string[]): TemplateProblem | undefined {
  const template = TEMPLATE_SPECS[kind];
  if (template === undefined) return { reason: "UNKNOWN_KIND", detail: `no template for kind "${kind.slice(0, 64)}"` };
  for (const name of [...template.money, ...template.optionalMoney]) {
    const value = parameters[name];
    if (value === undefined) {
      if (template.money.includes(name)) return invalid(`parameter ${name} is missing`);
      continue;
    }
    const money = parseMoneyParameter(value);
    if (typeof money === "string") return invalid(`parameter ${name} ${money}`);
  }
  for (const name of [...template.text, ...template.optionalText]) {
    const value = parameters[name];
    if (value === undefined) {
      if (template.text.includes(name)) return invalid(`parameter ${name} is missing`);
      continue;
    }
    if (value.length > MAX_TEXT_PARAMETER_CHARS) return invalid(`parameter ${name} is longer than ${MAX_TEXT_PARAMETER_CHARS} characters`);
  }
  const missingSecret = template.secrets.find((name) => !sealedNames.includes(name));
  if (missingSecret !== undefined) return invalid(`sealed parameter ${missingSecret} is missing`);
  return undefined;
}

function invalid(detail: string): TemplateProblem {
  return { reason: "INVALID_PARAMETERS", detail };
}

export interface RenderInput {
  kind: string;
  /** A valid BCP 47 locale (the caller falls back to its default for an invalid one). */
  locale: string;
  parameters: Readonly<Record<string, string>>;
  /** Opened sealed parameters; held in memory for this render only. */
  secrets: Readonly<Record<string, string>>;
}

/** Renders a checked request; a problem only if the input was not checked first. */
export function renderMessage(input: RenderInput): RenderedMessage | TemplateProblem {
  const problem = checkTemplateInput(input.kind, input.parameters, Object.keys(input.secrets));
  if (problem) return problem;
  const template = TEMPLATE_SPECS[input.kind]!;
  const values: Record<string, string> = {};
  for (const name of [...template.text, ...template.optionalText]) {
    const value = input.parameters[name];
    if (value !== undefined) values[name] = cleanText(value);
  }
  for (const name of [...template.money, ...template.optionalMoney]) {
    const value = input.parameters[name];
    if (value !== undefined) values[name] = formatMoney(parseMoneyParameter(value) as { currency: string; amountMinor: bigint }, input.locale);
  }
  for (const name of template.optionalTime) {
    const value = input.parameters[name];
    const instant = value === undefined ? Number.NaN : Date.parse(value);
    if (!Number.isNaN(instant)) values[name] = formatInstant(instant, input.locale);
  }
  for (const name of template.secrets) values[name] = cleanText(input.secrets[name]!);
  const phrases = TEXTS[languageOf(input.locale)][input.kind]!(values);
  return assemble(phrases);
}

function assemble(phrases: Phrases): RenderedMessage {
  const subject = phrases.subject;
  const lines = phrases.lines.filter((line) => line !== "");
  const text = `${[...lines, phrases.footer].join("\n\n")}\n`;
  const html = htmlDocument(escapeHtml(subject), [...lines.map(escapeHtml), `<small>${escapeHtml(phrases.footer)}</small>`]);
  const sms = phrases.sms.length > SMS_MAX_CHARS ? `${phrases.sms.slice(0, SMS_MAX_CHARS - 1)}…` : phrases.sms;
  return { subject, text, html, sms };
}

function formatInstant(instantMs: number, locale: string): string {
  return `${new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(instantMs)} UTC`;
}

/** Parameters go into headers and SMS: no control characters, no line breaks. */
function cleanText(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
}

export function languageOf(locale: string): Language {
  try {
    return new Intl.Locale(locale).language === "de" ? "de" : "en";
  } catch {
    return "en";
  }
}

/** The locale to render with: the request's when Intl accepts it, else the fallback. */
export function effectiveLocale(requested: string, fallback: string): string {
  if (requested === "") return fallback;
  try {
    const [canonical] = Intl.getCanonicalLocales(requested);
    return canonical ?? fallback;
  } catch {
    return fallback;
  }
}

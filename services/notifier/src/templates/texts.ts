// The words of every template, per language. Values arrive cleaned and formatted (money already
// laid out for the locale); a missing optional value is undefined.

export type Language = "en" | "de";

export interface Phrases {
  subject: string;
  /** Paragraphs of the e-mail body. */
  lines: string[];
  footer: string;
  /** The SMS text: short, the essentials only. */
  sms: string;
}

type Values = Readonly<Record<string, string | undefined>>;
type Template = (values: Values) => Phrases;

const FOOTER = {
  en: "This message was sent by clearmesh. Please do not reply.",
  de: "Diese Nachricht wurde von clearmesh gesendet. Bitte nicht antworten.",
};

const withReference = (text: string, reference: string | undefined, label: string) => (reference ? `${text} ${label}: ${reference}.` : text);
const joined = (...parts: Array<string | undefined | false>) => parts.filter((part) => part).join(" ");

const MOVEMENTS = {
  en: { sent: "transfer", top_up: "top-up", withdrawal: "withdrawal", payment: "payment", other: "transaction" },
  de: { sent: "Überweisung", top_up: "Aufladung", withdrawal: "Auszahlung", payment: "Zahlung", other: "Transaktion" },
} as const;

function movementWord(language: Language, movement: string | undefined): string {
  const words: Record<string, string> = MOVEMENTS[language];
  return words[movement ?? ""] ?? MOVEMENTS[language].other;
}

const en: Record<string, Template> = {
  "mandate.code": (v) => {
    const payee = v.payee ?? v.payee_id;
    return {
      subject: "Your mandate code",
      lines: [
        `Your code to approve the mandate${payee ? ` for ${payee}` : ""}${v.masked_account_number ? ` on account ${v.masked_account_number}` : ""}: ${v.code}`,
        joined(v.per_transfer_limit && `Limit per transfer: ${v.per_transfer_limit}.`, v.daily_limit && `Limit per day: ${v.daily_limit}.`),
        v.code_expires_at ? `The code expires on ${v.code_expires_at}.` : v.expires_minutes ? `The code expires in ${v.expires_minutes} minutes.` : "",
        "If you did not ask for it, ignore this message and do not share the code.",
      ],
      footer: FOOTER.en,
      sms: `clearmesh: ${v.code} is your code to approve the mandate${payee ? ` for ${payee}` : ""}. Do not share it.`,
    };
  },
  "payment.succeeded": (v) => ({
    subject: v.merchant ? `You paid ${v.amount} to ${v.merchant}` : `You paid ${v.amount}`,
    lines: [withReference(`Your payment of ${v.amount}${v.merchant ? ` to ${v.merchant}` : ""} succeeded.`, v.reference, "Reference")],
    footer: FOOTER.en,
    sms: `clearmesh: you paid ${v.amount}${v.merchant ? ` to ${v.merchant}` : ""}.`,
  }),
  "payment.refunded": (v) => ({
    subject: v.merchant ? `${v.merchant} refunded ${v.amount}` : `You were refunded ${v.amount}`,
    lines: [withReference(v.merchant ? `${v.merchant} refunded ${v.amount} to you.` : `You were refunded ${v.amount}.`, v.reference, "Reference")],
    footer: FOOTER.en,
    sms: v.merchant ? `clearmesh: ${v.merchant} refunded ${v.amount} to you.` : `clearmesh: you were refunded ${v.amount}.`,
  }),
  "movement.failed": (v) => ({
    subject: `Your ${movementWord("en", v.movement)} of ${v.amount} did not go through`,
    lines: [
      `Your ${movementWord("en", v.movement)} of ${v.amount} did not go through${v.reason ? ` (${v.reason})` : ""}. The money held for it is available again.`,
    ],
    footer: FOOTER.en,
    sms: `clearmesh: your ${movementWord("en", v.movement)} of ${v.amount} did not go through${v.reason ? ` (${v.reason})` : ""}.`,
  }),
  "transfer.received": (v) => ({
    subject: `You received ${v.amount}`,
    lines: [v.sender ? `You received ${v.amount} from ${v.sender}.` : `You received ${v.amount}.`],
    footer: FOOTER.en,
    sms: v.sender ? `clearmesh: you received ${v.amount} from ${v.sender}.` : `clearmesh: you received ${v.amount}.`,
  }),
  "transfer.sent": (v) => ({
    subject: `You sent ${v.amount}`,
    lines: [v.payee ? `You sent ${v.amount} to ${v.payee}.` : `You sent ${v.amount}.`],
    footer: FOOTER.en,
    sms: v.payee ? `clearmesh: you sent ${v.amount} to ${v.payee}.` : `clearmesh: you sent ${v.amount}.`,
  }),
  "topup.completed": (v) => ({
    subject: `Top-up of ${v.amount} completed`,
    lines: [`Your top-up of ${v.amount} is in your wallet.`, v.balance ? `Your balance is now ${v.balance}.` : ""],
    footer: FOOTER.en,
    sms: `clearmesh: top-up of ${v.amount} completed.${v.balance ? ` Balance: ${v.balance}.` : ""}`,
  }),
  "withdrawal.completed": (v) => ({
    subject: `Withdrawal of ${v.amount} completed`,
    lines: [`Your withdrawal of ${v.amount} is on its way to your bank account.`, v.balance ? `Your balance is now ${v.balance}.` : ""],
    footer: FOOTER.en,
    sms: `clearmesh: withdrawal of ${v.amount} completed.${v.balance ? ` Balance: ${v.balance}.` : ""}`,
  }),
  "operator.position_threshold": (v) => {
    const above = v.direction === "above";
    const what = above ? `rose above ${v.threshold_percent}%` : `fell back below ${v.threshold_percent}%`;
    return {
      subject: `[clearmesh alert] ${v.participant}: exposure ${what} of its cap`,
      lines: [
        `The exposure of ${v.participant} (position plus reserved) is ${v.exposure}, against a net debit cap of ${v.cap}: it ${what} of the cap.`,
        above ? "Consider asking for more liquidity or closing the settlement window." : "No action is needed.",
      ],
      footer: "clearmesh operator alert.",
      sms: `clearmesh alert: ${v.participant} exposure ${v.exposure} ${what} of cap ${v.cap}.`,
    };
  },
  "operator.settlement_failed": (v) => ({
    subject: `[clearmesh alert] settlement window ${v.window_id} failed`,
    lines: [
      `The settlement bank refused the instructions of window ${v.window_id} (attempt ${v.attempt}).`,
      v.failure_reason ? `Reason: ${v.failure_reason}` : "",
      v.failed_instructions ? `Refused instructions: ${v.failed_instructions}` : "",
      "Retry the window with RetrySettlementWindow once the cause is fixed.",
    ],
    footer: "clearmesh operator alert.",
    sms: `clearmesh alert: settlement window ${v.window_id} failed (attempt ${v.attempt}).`,
  }),
};

const de: Record<string, Template> = {
  ...en,
  "mandate.code": (v) => {
    const payee = v.payee ?? v.payee_id;
    return {
      subject: "Ihr Mandats-Code",
      lines: [
        `Ihr Code zur Freigabe des Mandats${payee ? ` für ${payee}` : ""}${v.masked_account_number ? ` zum Konto ${v.masked_account_number}` : ""}: ${v.code}`,
        joined(v.per_transfer_limit && `Limit pro Überweisung: ${v.per_transfer_limit}.`, v.daily_limit && `Limit pro Tag: ${v.daily_limit}.`),
        v.code_expires_at ? `Der Code ist gültig bis ${v.code_expires_at}.` : v.expires_minutes ? `Der Code ist ${v.expires_minutes} Minuten gültig.` : "",
        "Falls Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht und geben Sie den Code nicht weiter.",
      ],
      footer: FOOTER.de,
      sms: `clearmesh: ${v.code} ist Ihr Code für das Mandat${payee ? ` für ${payee}` : ""}. Nicht weitergeben.`,
    };
  },
  "payment.succeeded": (v) => ({
    subject: v.merchant ? `Sie haben ${v.amount} an ${v.merchant} bezahlt` : `Sie haben ${v.amount} bezahlt`,
    lines: [withReference(`Ihre Zahlung von ${v.amount}${v.merchant ? ` an ${v.merchant}` : ""} war erfolgreich.`, v.reference, "Referenz")],
    footer: FOOTER.de,
    sms: `clearmesh: Sie haben ${v.amount}${v.merchant ? ` an ${v.merchant}` : ""} bezahlt.`,
  }),
  "payment.refunded": (v) => ({
    subject: v.merchant ? `${v.merchant} hat ${v.amount} erstattet` : `Ihnen wurden ${v.amount} erstattet`,
    lines: [withReference(v.merchant ? `${v.merchant} hat Ihnen ${v.amount} erstattet.` : `Ihnen wurden ${v.amount} erstattet.`, v.reference, "Referenz")],
    footer: FOOTER.de,
    sms: v.merchant ? `clearmesh: ${v.merchant} hat Ihnen ${v.amount} erstattet.` : `clearmesh: Ihnen wurden ${v.amount} erstattet.`,
  }),
  "movement.failed": (v) => ({
    subject: `Ihre ${movementWord("de", v.movement)} über ${v.amount} ist fehlgeschlagen`,
    lines: [
      `Ihre ${movementWord("de", v.movement)} über ${v.amount} ist fehlgeschlagen${v.reason ? ` (${v.reason})` : ""}. Der dafür reservierte Betrag ist wieder verfügbar.`,
    ],
    footer: FOOTER.de,
    sms: `clearmesh: Ihre ${movementWord("de", v.movement)} über ${v.amount} ist fehlgeschlagen${v.reason ? ` (${v.reason})` : ""}.`,
  }),
  "transfer.received": (v) => ({
    subject: `Sie haben ${v.amount} erhalten`,
    lines: [v.sender ? `Sie haben ${v.amount} von ${v.sender} erhalten.` : `Sie haben ${v.amount} erhalten.`],
    footer: FOOTER.de,
    sms: v.sender ? `clearmesh: Sie haben ${v.amount} von ${v.sender} erhalten.` : `clearmesh: Sie haben ${v.amount} erhalten.`,
  }),
  "transfer.sent": (v) => ({
    subject: `Sie haben ${v.amount} gesendet`,
    lines: [v.payee ? `Sie haben ${v.amount} an ${v.payee} gesendet.` : `Sie haben ${v.amount} gesendet.`],
    footer: FOOTER.de,
    sms: v.payee ? `clearmesh: Sie haben ${v.amount} an ${v.payee} gesendet.` : `clearmesh: Sie haben ${v.amount} gesendet.`,
  }),
  "topup.completed": (v) => ({
    subject: `Aufladung über ${v.amount} abgeschlossen`,
    lines: [`Ihre Aufladung über ${v.amount} ist in Ihrer Wallet.`, v.balance ? `Ihr Guthaben beträgt jetzt ${v.balance}.` : ""],
    footer: FOOTER.de,
    sms: `clearmesh: Aufladung über ${v.amount} abgeschlossen.${v.balance ? ` Guthaben: ${v.balance}.` : ""}`,
  }),
  "withdrawal.completed": (v) => ({
    subject: `Auszahlung über ${v.amount} abgeschlossen`,
    lines: [`Ihre Auszahlung über ${v.amount} ist auf dem Weg zu Ihrem Bankkonto.`, v.balance ? `Ihr Guthaben beträgt jetzt ${v.balance}.` : ""],
    footer: FOOTER.de,
    sms: `clearmesh: Auszahlung über ${v.amount} abgeschlossen.${v.balance ? ` Guthaben: ${v.balance}.` : ""}`,
  }),
};

export const TEXTS: Readonly<Record<Language, Readonly<Record<string, Template>>>> = { en, de };

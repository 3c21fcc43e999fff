// Reads what the local sinks of `npm start` caught (<data>/sinks/mail and <data>/sinks/sms),
// as a person would: the mandate's one-time code comes from the SMS (or the e-mail).
import { readStoredMails, readStoredSms, type StoredMail, type StoredSms } from "@clearmesh/notifier";
import { localSinkDirectories } from "@clearmesh/notifier";

export function sinkMessages(dataDir: string): { mails: StoredMail[]; sms: StoredSms[] } {
  const directories = localSinkDirectories(dataDir);
  return { mails: readStoredMails(directories.mail), sms: readStoredSms(directories.sms) };
}

/** The 6-digit code in an SMS to `phone` or an e-mail to `email` that mentions the mandate, if any. */
export function findMandateCode(dataDir: string, recipient: { phone: string; email: string }): { code: string; via: string } | undefined {
  const { mails, sms } = sinkMessages(dataDir);
  for (const message of sms) {
    const match = message.to === recipient.phone && /mandate/i.test(message.text) ? /\b(\d{6})\b/.exec(message.text) : null;
    if (match) return { code: match[1]!, via: `SMS to ${message.to}: "${message.text}"` };
  }
  for (const mail of mails) {
    const to = mail.to.map((address) => address.toLowerCase());
    const match = to.includes(recipient.email.toLowerCase()) && /mandate/i.test(`${mail.subject} ${mail.text}`) ? /\b(\d{6})\b/.exec(mail.text) : null;
    if (match) return { code: match[1]!, via: `e-mail to ${recipient.email}: "${mail.subject}"` };
  }
  return undefined;
}

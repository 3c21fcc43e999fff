// The local sinks `npm start` runs: what they store, what they refuse, and a taken port.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import nodemailer from "nodemailer";
import { readStoredMails, readStoredSms, startLocalSinks } from "../src/index.js";

describe("local sinks", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-sinks-"));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("store mail and SMS under <data>/sinks, and refuse what is not a message", async () => {
    const sinks = await startLocalSinks({ dataDir, smtpPort: 0, smsPort: 0 });
    try {
      const transport = nodemailer.createTransport({ url: sinks.smtpUrl });
      await transport.sendMail({ from: "a@clearmesh.local", to: "b@example.com", subject: "Grüße – 12,50\u00a0€", text: "Zeile 1\n\nZeile 2 — 12,50\u00a0€ ".repeat(10), html: "<p>x</p>" });
      transport.close();
      const [mail] = readStoredMails(path.join(dataDir, "sinks", "mail"));
      expect(mail).toMatchObject({ to: ["b@example.com"], subject: "Grüße – 12,50\u00a0€", text: "Zeile 1\n\nZeile 2 — 12,50\u00a0€ ".repeat(10), html: "<p>x</p>" });
      expect(fs.existsSync(path.join(dataDir, "sinks", "mail", mail!.file))).toBe(true);

      const post = (body: string, method = "POST") => fetch(sinks.smsGatewayUrl, { method, headers: { "content-type": "application/json" }, body: method === "POST" ? body : undefined });
      const accepted = await post(JSON.stringify({ to: "+15551234567", text: "hi", notification_id: "n-1" }));
      expect(accepted.status).toBe(202);
      expect((await post("not json")).status).toBe(400);
      expect((await post(JSON.stringify({ to: "+1555" }))).status).toBe(400);
      expect((await post("", "GET")).status).toBe(405);
      expect(readStoredSms(path.join(dataDir, "sinks", "sms")).map(({ to, text, notification_id }) => ({ to, text, notification_id })))
        .toEqual([{ to: "+15551234567", text: "hi", notification_id: "n-1" }]);
    } finally {
      await sinks.stop();
    }
  });

  it("take a free port when the default one is taken, if asked to", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startLocalSinks({ dataDir, smtpPort: taken, smsPort: 0 })).rejects.toMatchObject({ code: "EADDRINUSE" });
      const sinks = await startLocalSinks({ dataDir, smtpPort: taken, smsPort: 0, freePortIfTaken: true });
      expect(sinks.mail.port).not.toBe(taken);
      await sinks.stop();
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

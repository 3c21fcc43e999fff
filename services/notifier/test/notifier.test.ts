// The notifier against a real nats-server, a real clearing (for the directory), a real SMTP
// server (the mail sink, smtp-server) and a real HTTP SMS gateway (the SMS sink). The test plays
// the producers: it publishes clearmesh.notify.requested envelopes signed with the wallet's and
// bank-adapter's service keys, and clearing's alerts, and reads what the sinks stored, what the
// notifier answers over signed gRPC, and the events it publishes.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "nats";
import { buildEnvelope, decodePayload, publishEnvelope, verifyEnvelope, type BuiltEnvelope } from "@clearmesh/bus";
import {
  Channel, DeliveryStatus, NotificationDeadLetteredSchema, NotificationDeliveredSchema, NotificationFailedSchema, NotificationRequestedSchema,
  NotifierService, PositionThresholdCrossedSchema, SettlementWindowFailedSchema, SettlementWindowState, type Delivery,
} from "@clearmesh/contracts";
import { createLogger, errorReason, loadSettings, loadSigningKey, type RunningService } from "@clearmesh/runtime";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { createSigningKey, generateSeed, maskEmail, maskPhone, parseDataKeys, seal, type DataKeyRing, type SigningKey } from "@clearmesh/trust";
import {
  notifierSettingsSchema, readStoredMails, readStoredSms, startMailSink, startNotifier, startSmsSink, type MailSink, type SmsSink,
} from "../src/index.js";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";

const DEADLINE_MS = 10_000;
const POLL_MS = 20;
const OPERATOR_EMAIL = "ops.desk@operator.example";
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const usd = (amountMinor: string) => JSON.stringify({ currency: "USD", amountMinor });

interface NotifyEvent { kind: "delivered" | "failed" | "dead_lettered"; notificationId: string; attempts: number; reason: string; channel: Channel }

const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

/** Every table of the notifier, as text (binary columns read as UTF-8). */
const NOTIFIER_TABLES = ["notifications", "deliveries", "recipient_rate", "recipient_sends", "outbox", "processed_events"];

describe.each(engines)("notifier on $name", ({ name, database }) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-notifier-"));
  let testDatabase: TestDatabase | undefined;
  const mailDir = path.join(work, "mail");
  const smsDir = path.join(work, "sms");
  let mesh: TestMesh;
  let notifier: RunningService;
  let mailSink: MailSink;
  let smsSink: SmsSink;
  let nc: NatsConnection;
  let ring: DataKeyRing;
  let walletKey: SigningKey;
  let bankAdapterKey: SigningKey;
  let operator: ReturnType<typeof clientFor<typeof NotifierService>>;
  const clients: Array<{ close(): void }> = [];
  /** Every line the notifier logged, at trace level. */
  const logLines: string[] = [];
  /** The notifier's events, verified against its key. */
  const events: NotifyEvent[] = [];
  const unverified: string[] = [];
  /** Every address and code the test sealed: none may reach the logs or the database. */
  const secrets: string[] = [OPERATOR_EMAIL];
  let sequence = 0;

  beforeAll(async () => {
    testDatabase = await database();
    mailSink = await startMailSink({ dir: mailDir, port: 0 });
    smsSink = await startSmsSink({ dir: smsDir, port: 0 });
    const environment = {
      SMTP_URL: mailSink.url, SMS_GATEWAY_URL: smsSink.url, OPERATOR_ALERT_EMAIL: OPERATOR_EMAIL,
      NOTIFY_BACKOFF_MS: "250,500,1000", NOTIFY_MAX_ATTEMPTS: "4", NOTIFY_RATE_PER_RECIPIENT_PER_HOUR: "2",
      NOTIFY_POLL_INTERVAL_MS: "200", NOTIFY_SEND_TIMEOUT_MS: "2000",
    };
    // Clearing only: this test starts the notifier itself, to capture its logger.
    mesh = await startTestMesh({ clearingOnly: true, environment });
    const destination = new Writable({ write(chunk: Buffer, _encoding, done) { logLines.push(chunk.toString("utf8")); done(); } });
    const logger = createLogger({ service: "notifier", level: "trace", destination });
    // On PostgreSQL the notifier gets a database of its own; clearing stays on SQLite.
    const notifierEnvironment = {
      ...mesh.environment, CLEARING_ADDRESS: `127.0.0.1:${mesh.services.clearing.grpcPort}`, ...(testDatabase ? { STORE_URL: testDatabase.url } : {}),
    };
    notifier = await startNotifier(loadSettings(notifierSettingsSchema(), notifierEnvironment), { logger });
    mesh.services.notifier = notifier;
    await notifier.ready;
    const keysDir = path.join(mesh.dataDir, "keys");
    ring = parseDataKeys(fs.readFileSync(path.join(keysDir, "notify-data-keys"), "utf8").trim());
    walletKey = loadSigningKey(path.join(keysDir, "wallet.key"), "wallet", "wallet-1");
    bankAdapterKey = loadSigningKey(path.join(keysDir, "bank-adapter.key"), "bank-adapter", "bank-adapter-1");
    operator = clientFor(mesh, "notifier", NotifierService, mesh.keys.get("operator")!);
    clients.push(operator);
    nc = await connect({ servers: mesh.nats.url });
    void collectEvents();
    await nc.flush();
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await nc?.drain();
    await mesh?.stop();
    await mailSink?.stop();
    await smsSink?.stop();
    await testDatabase?.drop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  async function collectEvents(): Promise<void> {
    const subscription = nc.subscribe("clearmesh.notify.*");
    const lookup = (producer: string, keyId: string) => (producer === "notifier" ? notifier.directory.activePublicKey(producer, keyId) : undefined);
    for await (const message of subscription) {
      if (message.subject === "clearmesh.notify.requested") continue;
      const verified = verifyEnvelope(message.data, message.subject, lookup);
      if (!verified.ok) {
        unverified.push(`${message.subject}: ${verified.reason}`);
        continue;
      }
      const payload = message.subject === "clearmesh.notify.delivered"
        ? { ...decodePayload(verified.event, NotificationDeliveredSchema), event: "delivered" as const, reason: "" }
        : message.subject === "clearmesh.notify.failed"
          ? { ...decodePayload(verified.event, NotificationFailedSchema), event: "failed" as const }
          : { ...decodePayload(verified.event, NotificationDeadLetteredSchema), event: "dead_lettered" as const };
      events.push({ kind: payload.event, notificationId: payload.notificationId, attempts: payload.attempts, reason: payload.reason, channel: payload.channel });
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  const nextId = (label: string) => `${label}-${(sequence += 1)}-${Date.now()}`;

  async function publishAs<Desc extends DescMessage>(key: SigningKey, subject: string, schema: Desc, message: MessageInitShape<Desc>, msgId?: string): Promise<BuiltEnvelope> {
    const envelope = buildEnvelope(key, { subject, schema, message: create(schema, message) });
    await publishEnvelope(nc.jetstream(), envelope.bytes, msgId ?? envelope.id, subject);
    return envelope;
  }

  interface RequestOptions {
    kind?: string;
    email?: string;
    phone?: string;
    channels?: Channel[];
    locale?: string;
    parameters?: Record<string, string>;
    code?: string;
    notificationId?: string;
    hint?: string;
  }

  function request(options: RequestOptions) {
    const sealedParameters: Record<string, string> = {};
    if (options.email) sealedParameters.email = seal(ring, options.email);
    if (options.phone) sealedParameters.phone = seal(ring, options.phone);
    if (options.code) sealedParameters.code = seal(ring, options.code);
    for (const secret of [options.email, options.phone, options.code]) if (secret) secrets.push(secret);
    return {
      notificationId: options.notificationId ?? nextId("n"),
      kind: options.kind ?? "payment.succeeded",
      channels: options.channels ?? [Channel.EMAIL],
      locale: options.locale ?? "en-US",
      parameters: options.parameters ?? { amount: usd("1250"), merchant: "Acme Books" },
      sealedParameters,
      recipientHint: options.hint ?? (options.email ? maskEmail(options.email) : options.phone ? maskPhone(options.phone) : ""),
    };
  }

  async function notify(options: RequestOptions, key = walletKey): Promise<string> {
    const message = request(options);
    await publishAs(key, "clearmesh.notify.requested", NotificationRequestedSchema, message);
    return message.notificationId;
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await delay(POLL_MS);
    }
  }

  async function deliveryOf(notificationId: string): Promise<Delivery | undefined> {
    try {
      return await operator.getDelivery({ notificationId });
    } catch (error) {
      if (errorReason(error) === "DELIVERY_NOT_FOUND") return undefined;
      throw error;
    }
  }

  const waitForStatus = (notificationId: string, status: DeliveryStatus) =>
    waitFor(`${notificationId} ${DeliveryStatus[status]}`, async () => {
      const delivery = await deliveryOf(notificationId);
      return delivery?.status === status ? delivery : undefined;
    });

  const mailsFor = (notificationId: string) => readStoredMails(mailDir).filter((mail) => mail.notificationId === notificationId);
  const smsFor = (notificationId: string) => readStoredSms(smsDir).filter((sms) => sms.notification_id === notificationId);
  const eventsFor = (notificationId: string) => events.filter((event) => event.notificationId === notificationId);

  // ---- channels and templates ---------------------------------------------------------------

  it("e-mails a payment receipt with the exact money text, and reports it delivered", async () => {
    const id = await notify({ email: "alice.liddell@example.com" });
    const delivery = await waitForStatus(id, DeliveryStatus.DELIVERED);
    expect(delivery).toMatchObject({ channel: Channel.EMAIL, recipient: "a***@example.com", attempts: 1, kind: "payment.succeeded", producer: "wallet", lastError: "" });
    const [mail, ...others] = mailsFor(id);
    expect(others).toEqual([]);
    expect(mail).toMatchObject({
      to: ["alice.liddell@example.com"],
      subject: "You paid $12.50 to Acme Books",
      text: "Your payment of $12.50 to Acme Books succeeded.\n\nThis message was sent by clearmesh. Please do not reply.\n",
    });
    expect(mail!.html).toContain("<p>Your payment of $12.50 to Acme Books succeeded.</p>");
    await waitFor("delivered event", () => eventsFor(id).find((event) => event.kind === "delivered"));
    expect(eventsFor(id)).toEqual([{ kind: "delivered", notificationId: id, attempts: 1, reason: "", channel: Channel.EMAIL }]);
  });

  it("formats money for the recipient's locale (de-DE, EUR)", async () => {
    const id = await notify({ email: "bettina@example.de", locale: "de-DE", kind: "payment.refunded", parameters: { amount: JSON.stringify({ currency: "EUR", amountMinor: "1250" }), merchant: "Buchladen" } });
    await waitForStatus(id, DeliveryStatus.DELIVERED);
    expect(mailsFor(id).map((mail) => mail.subject)).toEqual(["Buchladen hat 12,50\u00a0€ erstattet"]);
  });

  it("texts by SMS when it is the first channel the recipient has", async () => {
    const id = await notify({
      phone: "+15551230001", channels: [Channel.SMS, Channel.EMAIL], kind: "transfer.received",
      parameters: { amount: JSON.stringify({ currency: "JPY", amountMinor: "1250" }), sender: "Bob" },
    });
    const delivery = await waitForStatus(id, DeliveryStatus.DELIVERED);
    expect(delivery).toMatchObject({ channel: Channel.SMS, recipient: "+*******0001", attempts: 1 });
    expect(smsFor(id).map(({ to, text }) => ({ to, text }))).toEqual([{ to: "+15551230001", text: "clearmesh: you received ¥1,250 from Bob." }]);
    // A request without a hint shows the masked number it was sent to.
    const unhinted = await notify({ phone: "+15551230003", channels: [Channel.SMS], kind: "transfer.sent", parameters: { amount: usd("100") }, hint: "" });
    expect(await waitForStatus(unhinted, DeliveryStatus.DELIVERED)).toMatchObject({ recipient: "+*******0003" });
  });

  it("sends a mandate code opened only at send time", async () => {
    // The parameters the bank-adapter sends with a mandate's one-time code.
    const id = await notify({
      email: "carl.code@example.com", kind: "mandate.code", code: "493817",
      parameters: { mandate_id: "m-1", bank_id: "bank-a", payee_id: "wallet-a", masked_account_number: "****3000", per_transfer_limit: usd("50000"), daily_limit: usd("200000") },
    }, bankAdapterKey);
    await waitForStatus(id, DeliveryStatus.DELIVERED);
    expect(mailsFor(id)[0]!.text).toContain("Your code to approve the mandate for wallet-a on account ****3000: 493817\n\nLimit per transfer: $500.00. Limit per day: $2,000.00.");
  });

  // ---- exactly once -------------------------------------------------------------------------

  it("sends one e-mail for an event delivered twice, and for a second event with the same notification id", async () => {
    const message = request({ email: "dora.dup@example.com" });
    const envelope = await publishAs(walletKey, "clearmesh.notify.requested", NotificationRequestedSchema, message);
    // The same envelope again under another Nats-Msg-Id: JetStream stores it twice, the consumer dedupes by event id.
    await publishEnvelope(nc.jetstream(), envelope.bytes, `${envelope.id}-again`, "clearmesh.notify.requested");
    // A new event (new id) for the same notification: the notifier dedupes by notification id.
    await publishAs(walletKey, "clearmesh.notify.requested", NotificationRequestedSchema, message);
    const marker = await notify({ email: "dora.marker@example.com" });
    await waitForStatus(message.notificationId, DeliveryStatus.DELIVERED);
    await waitForStatus(marker, DeliveryStatus.DELIVERED);
    await delay(300);
    expect(mailsFor(message.notificationId)).toHaveLength(1);
    expect((await deliveryOf(message.notificationId))!.attempts).toBe(1);
    expect(eventsFor(message.notificationId).map((event) => event.kind)).toEqual(["delivered"]);
  });

  it("never acts on an envelope with a bad signature or from a producer that may not notify", async () => {
    const forged = createSigningKey("wallet", "wallet-1", generateSeed());
    const forgedId = await notify({ email: "eve.forged@example.com" }, forged);
    const bankA = mesh.keys.get("bank-a")!;
    const strangerId = await notify({ email: "eve.stranger@example.com" }, bankA);
    const marker = await notify({ email: "eve.marker@example.com" });
    await waitForStatus(marker, DeliveryStatus.DELIVERED);
    await delay(300);
    expect(await deliveryOf(forgedId)).toBeUndefined();
    expect(await deliveryOf(strangerId)).toBeUndefined();
    expect([...mailsFor(forgedId), ...mailsFor(strangerId)]).toEqual([]);
    const metrics = await (await fetch(`http://127.0.0.1:${notifier.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/clearmesh_events_invalid_total\{[^}]*consumer="notifier-requests"[^}]*reason="BAD_SIGNATURE"[^}]*\} 1/);
    expect(metrics).toMatch(/clearmesh_events_invalid_total\{[^}]*consumer="notifier-requests"[^}]*reason="UNKNOWN_KEY"[^}]*\} 1/);
  });

  it("dead-letters at once a request that can never be sent", async () => {
    const unknownKind = await notify({ email: "fred.kind@example.com", kind: "lottery.won" });
    const noChannel = await notify({ email: "fred.sms@example.com", channels: [Channel.SMS] });
    const unknown = await waitForStatus(unknownKind, DeliveryStatus.DEAD_LETTERED);
    expect(unknown).toMatchObject({ attempts: 0, lastError: "UNKNOWN_KIND" });
    expect(await waitForStatus(noChannel, DeliveryStatus.DEAD_LETTERED)).toMatchObject({ channel: Channel.UNSPECIFIED, lastError: "NO_REACHABLE_CHANNEL" });
    await waitFor("dead_lettered event", () => eventsFor(unknownKind).find((event) => event.kind === "dead_lettered"));
    expect(eventsFor(unknownKind)).toEqual([{ kind: "dead_lettered", notificationId: unknownKind, attempts: 0, reason: "UNKNOWN_KIND", channel: Channel.EMAIL }]);
  });

  // ---- retries and dead letters -------------------------------------------------------------

  it("retries while the SMS gateway refuses connections and delivers once it is back", async () => {
    const port = smsSink.port;
    await smsSink.stop();
    const id = await notify({ phone: "+15551230002", channels: [Channel.SMS], kind: "topup.completed", parameters: { amount: usd("5000") } });
    await waitFor("two failed attempts", () => (eventsFor(id).filter((event) => event.kind === "failed").length >= 2 ? true : undefined));
    const failing = (await deliveryOf(id))!;
    expect(failing).toMatchObject({ status: DeliveryStatus.PENDING, lastError: "CHANNEL_UNAVAILABLE" });
    expect(failing.attempts).toBeGreaterThanOrEqual(2);
    smsSink = await startSmsSink({ dir: smsDir, port });
    const delivered = await waitForStatus(id, DeliveryStatus.DELIVERED);
    expect(delivered.attempts).toBeGreaterThanOrEqual(3);
    expect(smsFor(id).map((sms) => sms.text)).toEqual(["clearmesh: top-up of $50.00 completed."]);
    await waitFor("delivered event", () => eventsFor(id).find((event) => event.kind === "delivered"));
    const failures = eventsFor(id).filter((event) => event.kind === "failed");
    expect(failures.length).toBe(delivered.attempts - 1);
    expect(failures.map((event) => [event.attempts, event.reason])).toEqual(failures.map((_, index) => [index + 1, "CHANNEL_UNAVAILABLE"]));
  });

  it("dead-letters after the maximum attempts, and RetryDeadLetter delivers it", async () => {
    const port = mailSink.port;
    await mailSink.stop();
    const id = await notify({ email: "gina.dead@example.com" });
    const dead = await waitForStatus(id, DeliveryStatus.DEAD_LETTERED);
    expect(dead).toMatchObject({ attempts: 4, lastError: "CHANNEL_UNAVAILABLE" });
    await waitFor("dead_lettered event", () => eventsFor(id).find((event) => event.kind === "dead_lettered"));
    expect(eventsFor(id).map((event) => [event.kind, event.attempts])).toEqual([["failed", 1], ["failed", 2], ["failed", 3], ["dead_lettered", 4]]);
    const listed = await operator.listDeliveries({ status: DeliveryStatus.DEAD_LETTERED, recipientHint: "g***@example.com" });
    expect(listed.deliveries.map((delivery) => delivery.notificationId)).toEqual([id]);

    mailSink = await startMailSink({ dir: mailDir, port });
    const revived = await operator.retryDeadLetter({ notificationId: id, requestId: "retry-1" });
    expect(revived.status).toBe(DeliveryStatus.PENDING);
    const delivered = await waitForStatus(id, DeliveryStatus.DELIVERED);
    expect(delivered.attempts).toBe(5);
    expect(mailsFor(id)).toHaveLength(1);
    // The same retry again changes nothing; another one is refused.
    expect((await operator.retryDeadLetter({ notificationId: id, requestId: "retry-1" })).status).toBe(DeliveryStatus.DELIVERED);
    await expect(operator.retryDeadLetter({ notificationId: id, requestId: "retry-2" })).rejects.toSatisfy((error) => errorReason(error) === "DELIVERY_NOT_DEAD_LETTERED");
  });

  // ---- rate limit ---------------------------------------------------------------------------

  it("delays what exceeds the recipient's hourly limit instead of dropping it", async () => {
    const address = "hugo.rate@example.com";
    const first = await notify({ email: address });
    const second = await notify({ email: address });
    await waitForStatus(first, DeliveryStatus.DELIVERED);
    await waitForStatus(second, DeliveryStatus.DELIVERED);
    const third = await notify({ email: address });
    const delayed = await waitFor("the third delayed", async () => {
      const delivery = await deliveryOf(third);
      return delivery?.lastError === "RATE_LIMITED" ? delivery : undefined;
    });
    expect(delayed).toMatchObject({ status: DeliveryStatus.PENDING, attempts: 0 });
    const waitMs = Number(delayed.nextAttemptAt!.seconds) * 1000 - Date.now();
    expect(waitMs).toBeGreaterThan(55 * 60 * 1000);
    expect(waitMs).toBeLessThanOrEqual(60 * 60 * 1000);
    expect(readStoredMails(mailDir).filter((mail) => mail.to.includes(address))).toHaveLength(2);
    // The full address finds all three (through its keyed hash), newest first, and pages.
    const page1 = await operator.listDeliveries({ recipient: address, page: { pageSize: 2 } });
    expect(page1.deliveries.map((delivery) => delivery.notificationId)).toEqual([third, second]);
    const page2 = await operator.listDeliveries({ recipient: address, page: { pageSize: 2, pageToken: page1.page!.nextPageToken } });
    expect(page2.deliveries.map((delivery) => delivery.notificationId)).toEqual([first]);
    expect(page2.page!.nextPageToken).toBe("");
  });

  // ---- operator alerts ----------------------------------------------------------------------

  it("alerts the operator when a position crosses its threshold, and when a window fails", async () => {
    const clearingKey = mesh.keys.get("clearing")!;
    const crossed = await publishAs(clearingKey, "clearmesh.clearing.position.threshold_crossed", PositionThresholdCrossedSchema, {
      participantId: "bank-a", currency: "USD", exposureMinor: 800_000n, netDebitCapMinor: 1_000_000n, thresholdPercent: 80, above: true,
    });
    const failed = await publishAs(clearingKey, "clearmesh.settlement.window.failed", SettlementWindowFailedSchema, {
      window: { windowId: "w-42", state: SettlementWindowState.FAILED, attempt: 2, failureReason: "INSUFFICIENT_FUNDS bank-b USD", failedInstructionIds: ["w-42.bank-b.USD"] },
    });
    const alert = await waitForStatus(`alert.${crossed.id}`, DeliveryStatus.DELIVERED);
    expect(alert).toMatchObject({ producer: "clearing", kind: "operator.position_threshold", recipient: "o***@operator.example" });
    const [mail] = mailsFor(`alert.${crossed.id}`);
    expect(mail).toMatchObject({ to: [OPERATOR_EMAIL], subject: "[clearmesh alert] bank-a: exposure rose above 80% of its cap" });
    expect(mail!.text).toContain("is $8,000.00, against a net debit cap of $10,000.00");
    await waitForStatus(`alert.${failed.id}`, DeliveryStatus.DELIVERED);
    expect(mailsFor(`alert.${failed.id}`).map((message) => message.subject)).toEqual(["[clearmesh alert] settlement window w-42 failed"]);
  });

  // ---- who may read -------------------------------------------------------------------------

  it("shows a delivery to the operator and its producer only", async () => {
    const id = await notify({ email: "ines.reader@example.com" });
    await waitForStatus(id, DeliveryStatus.DELIVERED);
    const asWallet = clientFor(mesh, "notifier", NotifierService, walletKey);
    const asBankAdapter = clientFor(mesh, "notifier", NotifierService, bankAdapterKey);
    clients.push(asWallet, asBankAdapter);
    expect((await asWallet.getDelivery({ notificationId: id })).status).toBe(DeliveryStatus.DELIVERED);
    await expect(asBankAdapter.getDelivery({ notificationId: id })).rejects.toSatisfy((error) => errorReason(error) === "DELIVERY_NOT_FOUND");
    const own = await asBankAdapter.listDeliveries({});
    expect(own.deliveries.length).toBeGreaterThan(0);
    expect(own.deliveries.every((delivery) => delivery.producer === "bank-adapter")).toBe(true);
    await expect(operator.getDelivery({ notificationId: "" })).rejects.toSatisfy((error) => errorReason(error) === "INVALID_ARGUMENT");
  });

  // ---- secrets ------------------------------------------------------------------------------

  it("never writes an address or a code to its logs or its database", async () => {
    if (process.env.NOTIFIER_TEST_DUMP) fs.writeFileSync(process.env.NOTIFIER_TEST_DUMP, logLines.join(""));
    expect(unverified).toEqual([]);
    expect(logLines.length).toBeGreaterThan(20);
    const logs = logLines.join("");
    const rows: string[] = [];
    for (const table of NOTIFIER_TABLES) {
      for (const row of await notifier.store.query(`SELECT * FROM ${table}`)) {
        rows.push(Object.values(row).map((value) => (Buffer.isBuffer(value) ? value.toString("utf8") : String(value))).join("|"));
      }
    }
    expect(rows.length).toBeGreaterThan(20);
    // On SQLite, the bytes of the file and its write-ahead log too (deleted rows linger there).
    const files = name === "SQLite" ? ["notifier.db", "notifier.db-wal"].map((file) => path.join(mesh.dataDir, file)).filter((file) => fs.existsSync(file)) : [];
    expect(files.length > 0).toBe(name === "SQLite");
    const stored = Buffer.concat([Buffer.from(rows.join("\n")), ...files.map((file) => fs.readFileSync(file))]);
    for (const secret of secrets) {
      expect(logs.includes(secret), `log holds ${secret}`).toBe(false);
      expect(stored.includes(secret) || stored.includes(secret.toLowerCase()), `store holds ${secret}`).toBe(false);
    }
    // The hints are there, masked.
    expect(logs).toContain("a***@example.com");
  });
});

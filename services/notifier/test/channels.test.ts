// The channels' failure modes, each mapped onto the retry policy, with details that never quote
// the recipient: a real SMTP server that refuses, an HTTP gateway that answers each status.
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SMTPServer } from "smtp-server";
import { classifySmtpError, createSmtpChannel } from "../src/channels/email.js";
import { createHttpGatewayProvider } from "../src/channels/sms-http-gateway.js";

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("SMTP channel", () => {
  let refusing: SMTPServer;
  let port: number;

  beforeAll(async () => {
    refusing = new SMTPServer({
      logger: false, authOptional: true, disabledCommands: ["STARTTLS"],
      onRcptTo(address, _session, callback) {
        if (address.address.startsWith("later")) callback(Object.assign(new Error(`mailbox ${address.address} busy`), { responseCode: 451 }));
        else callback(Object.assign(new Error(`no mailbox ${address.address} here`), { responseCode: 550 }));
      },
    });
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    port = (refusing.server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => refusing.close(() => resolve()));
  });

  const mail = (to: string) => ({ notificationId: "n-1", to, subject: "s", text: "t", html: "<p>t</p>" });

  it("a 5xx refusal is permanent, a 4xx one is retried, and neither detail quotes the address", async () => {
    const channel = createSmtpChannel({ url: `smtp://127.0.0.1:${port}`, from: "x@clearmesh.local", timeoutMs: 2_000 });
    const never = await channel.send(mail("nobody.here@example.com"));
    const later = await channel.send(mail("later.please@example.com"));
    channel.close();
    expect(never).toEqual({ ok: false, reason: "CHANNEL_REJECTED_PERMANENTLY", detail: "SMTP EENVELOPE 550" });
    expect(later).toMatchObject({ ok: false, reason: "CHANNEL_REJECTED" });
    expect(JSON.stringify(later)).not.toContain("later.please");
  });

  it("a server that is not there is unavailable", async () => {
    const channel = createSmtpChannel({ url: `smtp://127.0.0.1:${await closedPort()}`, from: "x@clearmesh.local", timeoutMs: 2_000 });
    expect(await channel.send(mail("a@example.com"))).toMatchObject({ ok: false, reason: "CHANNEL_UNAVAILABLE" });
    channel.close();
  });

  it.each([
    [{ code: "ETIMEDOUT" }, "CHANNEL_TIMEOUT"],
    [{ code: "ESOCKET", originalCode: "ECONNREFUSED" }, "CHANNEL_UNAVAILABLE"],
    [{ code: "EAUTH", responseCode: 535, permanent: true }, "CHANNEL_REJECTED"],
    [{ code: "EMESSAGE", responseCode: 503, permanent: false }, "CHANNEL_REJECTED"],
    [{ code: "EMESSAGE", responseCode: 554 }, "CHANNEL_REJECTED_PERMANENTLY"],
  ])("classifies %j as %s", (error, reason) => {
    expect(classifySmtpError(Object.assign(new Error("x"), error))).toMatchObject({ ok: false, reason });
  });
});

describe("HTTP SMS gateway provider", () => {
  let server: http.Server;
  let port: number;
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => { body += chunk.toString(); });
      request.on("end", () => {
        received.push({ headers: request.headers, body });
        if (request.url === "/hang") return;
        response.writeHead(Number(request.url!.slice(1)), { "content-type": "application/json" });
        response.end(`{"echo": ${JSON.stringify(body)}}`);
      });
    });
    port = await listen(server);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const sms = { notificationId: "n-7", to: "+15551234567", text: "clearmesh: hello" };
  const provider = (path: string, timeoutMs = 2_000) => createHttpGatewayProvider({ url: `http://127.0.0.1:${port}${path}`, token: "t0ken", timeoutMs });

  it("posts the documented JSON with the idempotency key and the token", async () => {
    expect(await provider("/202").send(sms)).toEqual({ ok: true });
    const last = received[received.length - 1]!;
    expect(JSON.parse(last.body)).toEqual({ to: "+15551234567", text: "clearmesh: hello", notification_id: "n-7" });
    expect(last.headers).toMatchObject({ "content-type": "application/json", "idempotency-key": "n-7", authorization: "Bearer t0ken" });
  });

  it.each([
    ["/200", { ok: true }],
    ["/429", { ok: false, reason: "CHANNEL_REJECTED", detail: "HTTP 429" }],
    ["/503", { ok: false, reason: "CHANNEL_REJECTED", detail: "HTTP 503" }],
    ["/400", { ok: false, reason: "CHANNEL_REJECTED_PERMANENTLY", detail: "HTTP 400" }],
  ])("answer %s", async (path, outcome) => {
    expect(await provider(path).send(sms)).toEqual(outcome);
  });

  it("no answer in time is a timeout; no server is unavailable", async () => {
    expect(await provider("/hang", 200).send(sms)).toEqual({ ok: false, reason: "CHANNEL_TIMEOUT", detail: "HTTP timeout" });
    const gone = createHttpGatewayProvider({ url: `http://127.0.0.1:${await closedPort()}/messages`, timeoutMs: 2_000 });
    expect(await gone.send(sms)).toEqual({ ok: false, reason: "CHANNEL_UNAVAILABLE", detail: "HTTP ECONNREFUSED" });
  });
});

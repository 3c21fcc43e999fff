// The scripts docker-compose.yml runs, exercised here without Docker: the health check, the local
// sinks entry point, the PostgreSQL init script (against the local server) and the participant
// registration job (against a real clearing started with make-secrets.sh's keys).
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type TestNatsServer } from "@clearmesh/bus";
import { ClearingService } from "@clearmesh/contracts";
import { createLogger, createSignedClient, loadSettings, loadSigningKey, type RunningService } from "@clearmesh/runtime";
import { toHex } from "@clearmesh/trust";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { readParticipants } from "../../deploy/participants.js";
import { runLocalSinks } from "../../deploy/local-sinks.js";
import { registerOptionsFromEnvironment, registerParticipants } from "../../deploy/register-participants.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let workDir: string;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-deploy-scripts-"));
});
afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** Runs deploy/healthcheck.mjs without blocking this process (the servers under test live here). */
function healthcheck(args: string[], environment: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(root, "deploy", "healthcheck.mjs"), ...args], { env: { PATH: process.env.PATH ?? "", ...environment } },
      (error) => resolve(error ? Number((error as { code?: number }).code ?? 1) : 0));
  });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe("deploy/healthcheck.mjs", () => {
  it("is healthy on 200 from /healthz, and on 503 only with --alive (a clearing standby)", async () => {
    let status = 200;
    const seen: string[] = [];
    const server = http.createServer((request, response) => {
      seen.push(request.url ?? "");
      response.writeHead(status).end();
    });
    const port = await listen(server);
    try {
      expect(await healthcheck([String(port)])).toBe(0);
      status = 503;
      expect(await healthcheck([String(port)])).toBe(1);
      expect(await healthcheck([String(port), "--alive"])).toBe(0);
      status = 500;
      expect(await healthcheck([String(port), "--alive"])).toBe(1);
      // Without arguments: HTTP_PORT, as the Dockerfile's HEALTHCHECK runs it.
      status = 200;
      expect(await healthcheck([], { HTTP_PORT: String(port) })).toBe(0);
      expect(seen.every((url) => url === "/healthz")).toBe(true);
    } finally {
      await close(server);
    }
    expect(await healthcheck([String(port)])).toBe(1);
    expect(await healthcheck(["not-a-port"])).toBe(1);
  });

  it("checks TCP ports (the sinks)", async () => {
    const server = net.createServer((socket) => socket.end());
    const port = await listen(server);
    expect(await healthcheck(["--tcp", String(port)])).toBe(0);
    await close(server);
    expect(await healthcheck(["--tcp", String(port)])).toBe(1);
  });

  it("speaks TLS when TLS_CERT_FILE is set, presenting it as client certificate (mutual TLS)", async () => {
    const cert = path.join(workDir, "cert.pem");
    const key = path.join(workDir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=clearing"], { stdio: "pipe" });
    const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key), ca: fs.readFileSync(cert), requestCert: true, rejectUnauthorized: true },
      (_request, response) => response.writeHead(200).end());
    const port = await listen(server);
    try {
      expect(await healthcheck([String(port)], { TLS_CERT_FILE: cert, TLS_KEY_FILE: key })).toBe(0);
      expect(await healthcheck([String(port)])).toBe(1);
    } finally {
      await close(server);
    }
  });
});

describe("deploy/local-sinks.ts", () => {
  it("stores what the notifier sends by SMS, and answers the health check on both ports", async () => {
    const dataDir = path.join(workDir, "sinks");
    const sinks = await runLocalSinks({ CLEARMESH_DATA_DIR: dataDir, SINK_BIND_HOST: "127.0.0.1", SMTP_SINK_PORT: "0", SMS_SINK_PORT: "0" });
    try {
      expect(await healthcheck(["--tcp", String(sinks.mail.port), "--tcp", String(sinks.sms.port)])).toBe(0);
      const response = await fetch(`http://127.0.0.1:${sinks.sms.port}/messages`, {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ to: "+15550100", text: "paid", notification_id: "n-1" }),
      });
      expect(response.status).toBe(202);
      expect(fs.readdirSync(path.join(dataDir, "sinks", "sms")).filter((file) => file.endsWith(".json"))).toHaveLength(1);
    } finally {
      await sinks.stop();
    }
    expect(await healthcheck(["--tcp", String(sinks.sms.port)])).toBe(1);
  });

  it("refuses a bad port", async () => {
    await expect(runLocalSinks({ CLEARMESH_DATA_DIR: workDir, SMTP_SINK_PORT: "smtp" })).rejects.toThrow(/SMTP_SINK_PORT/);
  });
});

describe("deploy/postgres/init-databases.sh", () => {
  const adminUrl = new URL(process.env.CLEARMESH_TEST_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");
  const suffix = randomBytes(4).toString("hex");
  // Hyphens as in "bank-adapter", so the script's quoting is exercised.
  const names = [`cmdeploy-${suffix}-bank-adapter`, `cmdeploy-${suffix}-wallet`];
  const admin = () => new pg.Client({ connectionString: adminUrl.toString() });
  const as = (role: string, database: string, password: string) => {
    const url = new URL(adminUrl);
    url.username = role;
    url.password = password;
    url.pathname = `/${database}`;
    return new pg.Client({ connectionString: url.toString() });
  };

  afterAll(async () => {
    const client = admin();
    await client.connect();
    try {
      for (const name of names) {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await client.query(`DROP ROLE IF EXISTS "${name}"`);
      }
    } finally {
      await client.end();
    }
  });

  it("creates one role and one database per service, each reachable only by its own role", async () => {
    const secrets = path.join(workDir, "db-secrets");
    fs.mkdirSync(secrets);
    const passwords = Object.fromEntries(names.map((name) => [name, randomBytes(12).toString("hex")]));
    for (const name of names) fs.writeFileSync(path.join(secrets, `${name}-db-password`), `${passwords[name]}\n`);
    execFileSync("bash", [path.join(root, "deploy", "postgres", "init-databases.sh")], {
      stdio: "pipe",
      env: {
        PATH: process.env.PATH ?? "", CLEARMESH_DATABASES: names.join(" "), CLEARMESH_DB_SECRETS_DIR: secrets,
        POSTGRES_USER: decodeURIComponent(adminUrl.username), PGHOST: adminUrl.hostname, PGPORT: adminUrl.port || "5432",
        ...(adminUrl.password ? { PGPASSWORD: decodeURIComponent(adminUrl.password) } : {}),
      },
    });
    const client = admin();
    await client.connect();
    try {
      const owners = await client.query<{ datname: string; owner: string }>(
        "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ANY($1) ORDER BY datname", [names]);
      expect(owners.rows).toEqual(names.map((name) => ({ datname: name, owner: name })).sort((a, b) => a.datname.localeCompare(b.datname)));
    } finally {
      await client.end();
    }
    const [first, second] = names as [string, string];
    const own = as(first, first, passwords[first]!);
    await own.connect();
    await own.query("CREATE TABLE t (id int)");
    await own.end();
    const other = as(first, second, passwords[first]!);
    await expect(other.connect()).rejects.toThrow(/permission denied for database/);
    await other.end().catch(() => undefined);
  });

  it("stops when a role's password secret is missing", () => {
    expect(() => execFileSync("bash", [path.join(root, "deploy", "postgres", "init-databases.sh")], {
      stdio: "pipe", env: { PATH: process.env.PATH ?? "", CLEARMESH_DATABASES: "nothing", CLEARMESH_DB_SECRETS_DIR: workDir, POSTGRES_USER: "postgres" },
    })).toThrow(/nothing-db-password is missing/);
  });
});

describe("deploy/register-participants.ts", () => {
  let secretsDir: string;
  let anchors: Record<string, string>;
  let nats: TestNatsServer | undefined;
  let clearing: RunningService | undefined;

  beforeAll(async () => {
    secretsDir = path.join(workDir, "secrets");
    execFileSync("bash", [path.join(root, "deploy", "make-secrets.sh"), secretsDir], { stdio: "pipe" });
    anchors = Object.fromEntries(fs.readFileSync(path.join(secretsDir, "compose.env"), "utf8").split("\n")
      .filter((line) => /^(OPERATOR|CLEARING)_PUBLIC_KEY=/.test(line)).map((line) => line.split("=") as [string, string]));
    nats = await startNatsServer();
    // Clearing as the compose file starts it: its identity key and both anchors from make-secrets.
    clearing = await startClearing(loadSettings(clearingSettingsSchema(), {
      CLEARMESH_DATA_DIR: path.join(workDir, "clearing-data"), IDENTITY_KEY_FILE: path.join(secretsDir, "clearing.key"),
      NATS_URL: nats.url, GRPC_PORT: "0", HTTP_PORT: "0", LOG_LEVEL: "silent", SHUTDOWN_GRACE_MS: "1000", ...anchors,
    }), { logger: createLogger({ service: "clearing", level: "silent" }) });
    await clearing.ready;
  });

  afterAll(async () => {
    await clearing?.stop();
    await nats?.stop();
  });

  it("registers every participant with make-secrets' public keys, signed by the operator; again changes nothing", async () => {
    const environment = {
      CLEARING_ADDRESS: `127.0.0.1:${clearing!.grpcPort}`, ...anchors,
      OPERATOR_KEY_FILE: path.join(secretsDir, "operator.key"), PUBLIC_KEYS_DIR: path.join(secretsDir, "public"), REGISTER_TIMEOUT_MS: "20000",
    };
    const options = { ...registerOptionsFromEnvironment(environment), print: () => undefined };
    const expected = readParticipants().map((participant) => participant.participantId);
    expect(await registerParticipants(options)).toEqual(expected);
    expect(await registerParticipants(options)).toEqual(expected);

    const operator = createSignedClient(ClearingService, { address: environment.CLEARING_ADDRESS, signer: loadSigningKey(environment.OPERATOR_KEY_FILE, "operator", "operator-1") });
    try {
      for (const participantId of expected) {
        const participant = await operator.getParticipant({ participantId });
        expect(toHex(participant.keys[0]!.publicKey)).toBe(fs.readFileSync(path.join(secretsDir, "public", `${participantId}.pub`), "utf8").trim());
      }
    } finally {
      operator.close();
    }
  });

  it("refuses an operator key that does not match OPERATOR_PUBLIC_KEY", () => {
    expect(() => registerOptionsFromEnvironment({
      CLEARING_ADDRESS: "127.0.0.1:1", ...anchors, OPERATOR_KEY_FILE: path.join(secretsDir, "bank-a.key"), PUBLIC_KEYS_DIR: path.join(secretsDir, "public"),
    })).toThrow(/does not match OPERATOR_PUBLIC_KEY/);
  });

  it("keeps retrying while clearing does not answer, then gives up", async () => {
    const placeholder = net.createServer();
    const port = await listen(placeholder);
    await close(placeholder);
    const lines: string[] = [];
    const options = registerOptionsFromEnvironment({
      CLEARING_ADDRESS: `127.0.0.1:${port}`, ...anchors, OPERATOR_KEY_FILE: path.join(secretsDir, "operator.key"), PUBLIC_KEYS_DIR: path.join(secretsDir, "public"),
    });
    await expect(registerParticipants({ ...options, timeoutMs: 1_000, retryMs: 100, print: (line) => lines.push(line) })).rejects.toMatchObject({ code: 14 });
    expect(lines.some((line) => line.includes("retrying"))).toBe(true);
  });
});

// docker-compose.yml against the services' own settings schemas (no Docker engine runs here):
// every service present, every required variable set (or its file mounted as a secret), no
// unknown variable, ports, health checks, PostgreSQL and NATS, secrets that make-secrets.sh
// creates; then `docker-compose config -q` (Debian's docker-compose, no engine needed).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSeedHex, parseDataKeys, publicKeyFromSeed, toHex } from "@clearmesh/trust";
import { loadSettings, type SettingsSchema } from "@clearmesh/runtime";
import { ONE_MACHINE_PARTICIPANTS } from "../../packages/cli/src/start.js";
import { SERVICE_SCHEMAS } from "../../scripts/config-docs.js";
import { readParticipants } from "../../deploy/participants.js";
import { checkCompose, checkDockerfile, interpolate, type ComposeContext } from "./compose-check.js";
import { parseYamlSubset, type YamlMap } from "./yaml.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const makeSecrets = path.join(root, "deploy", "make-secrets.sh");
const composeFile = path.join(root, "docker-compose.yml");

function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(text.split("\n").filter((line) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(line)).map((line) => {
    const at = line.indexOf("=");
    return [line.slice(0, at), line.slice(at + 1)];
  }));
}

let workDir: string;
let secretsDir: string;
let variables: Record<string, string>;
let secretOutputs: string[];
let compose: YamlMap;
let context: ComposeContext;
const schemas: Record<string, SettingsSchema> = Object.fromEntries(Object.entries(SERVICE_SCHEMAS).map(([name, schema]) => [name, schema()]));

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-compose-"));
  secretsDir = path.join(workDir, "secrets");
  execFileSync("bash", [makeSecrets, secretsDir], { stdio: "pipe" });
  variables = parseEnvFile(fs.readFileSync(path.join(secretsDir, "compose.env"), "utf8"));
  secretOutputs = execFileSync("bash", [makeSecrets, "--list"], { encoding: "utf8" }).trim().split("\n");
  compose = parseYamlSubset(fs.readFileSync(composeFile, "utf8"));
  context = { schemas, variables, secretOutputs, secretsDir, participants: readParticipants(), root };
});

afterAll(() => {
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** A deep copy of the parsed compose file with one change, for the checker's negative cases. */
function mutated(change: (copy: { services: Record<string, Record<string, any>> } & Record<string, any>) => void): YamlMap {
  const copy = structuredClone(compose) as never;
  change(copy);
  return copy;
}

describe("docker-compose.yml", () => {
  it("runs every service of the settings schemas with every variable it needs, and nothing it does not know", () => {
    expect(checkCompose(compose, context)).toEqual([]);
  });

  it("derives what is required from the schemas with an empty data folder, so no local key file hides a gap", () => {
    const empty = fs.mkdtempSync(path.join(workDir, "empty-data-"));
    const required = (service: string) => Object.values(schemas[service]!)
      .filter((setting) => !setting.optional && (typeof setting.fallback === "function" ? setting.fallback({ CLEARMESH_DATA_DIR: empty }) : setting.fallback) === undefined)
      .map((setting) => setting.env);
    for (const service of Object.keys(schemas)) {
      expect(required(service)).toEqual(expect.arrayContaining(["OPERATOR_PUBLIC_KEY", "CLEARING_PUBLIC_KEY"]));
    }
    expect(required("bank-adapter")).toEqual(expect.arrayContaining(["DATA_KEYS", "NOTIFY_DATA_KEYS"]));
    expect(required("notifier")).toContain("NOTIFY_DATA_KEYS");
  });

  it("gives each service settings that load with its real parser, as the container would see them", () => {
    // The container's environment, with its secret paths moved into a temporary folder.
    const services = compose.services as Record<string, any>;
    for (const [composeName, definition] of Object.entries(services)) {
      const match = /^clearmesh\/([a-z-]+):/.exec(String(definition.image));
      if (!match || definition.command !== undefined) continue;
      const container = fs.mkdtempSync(path.join(workDir, `${composeName}-`));
      const moved = (target: string) => path.join(container, target);
      for (const entry of definition.secrets as Array<{ source: string; target: string }>) {
        const target = entry.target.startsWith("/") ? entry.target : `/run/secrets/${entry.target}`;
        const file = String((compose.secrets as Record<string, { file: string }>)[entry.source]!.file).replace("${CLEARMESH_SECRETS_DIR:-./deploy/secrets}", secretsDir);
        fs.mkdirSync(path.dirname(moved(target)), { recursive: true });
        fs.copyFileSync(file, moved(target));
      }
      const environment: Record<string, string> = {};
      for (const [name, value] of Object.entries(definition.environment as Record<string, string>)) {
        const problems: string[] = [];
        const resolved = interpolate(value, variables, problems, `${composeName} ${name}`);
        expect(problems).toEqual([]);
        environment[name] = resolved.startsWith("/") ? moved(resolved) : resolved;
      }
      const settings = loadSettings(schemas[match[1]!]!, environment) as Record<string, unknown>;
      expect(settings.storeUrl, composeName).toMatch(/^postgres:\/\//);
      expect(fs.existsSync(String(settings.identityKeyFile)), composeName).toBe(true);
    }
  });

  it("hosts the participants `npm start` runs, and registers them", () => {
    const deployed = readParticipants().map((participant) => participant.participantId).sort();
    expect(deployed).toEqual(ONE_MACHINE_PARTICIPANTS.map((participant) => participant.participantId).sort());
  });

  describe("the check fails", () => {
    const secretRequired = "run deploy/make-secrets.sh and use --env-file deploy/secrets/compose.env";
    const cases: Array<[string, (copy: any) => void, RegExp]> = [
      ["when a service is missing", (copy) => delete copy.services.wallet, /^service wallet is missing/],
      ["when the notifier is missing", (copy) => delete copy.services.notifier, /^service notifier is missing/],
      ["when clearing has no standby", (copy) => delete copy.services["clearing-standby"], /^clearing needs a standby/],
      ["when the standby uses another database", (copy) => {
        copy.services["clearing-standby"].environment.STORE_URL = copy.services["clearing-standby"].environment.STORE_URL.replace("/clearing\"", "/other\"").replace(/\/clearing$/, "/other");
      }, /share one STORE_URL/],
      ["when a required variable is missing", (copy) => delete copy.services["bank-adapter"].environment.OPERATOR_PUBLIC_KEY,
        /^bank-adapter: OPERATOR_PUBLIC_KEY is required by bank-adapter/],
      ["when a trust anchor is missing", (copy) => delete copy.services.notifier.environment.CLEARING_PUBLIC_KEY, /^notifier: CLEARING_PUBLIC_KEY is required/],
      ["when a loopback default is left in place", (copy) => delete copy.services.wallet.environment.NATS_URL, /^wallet: NATS_URL must be set/],
      ["when BIND_HOST is left on 127.0.0.1", (copy) => delete copy.services.clearing.environment.BIND_HOST, /^clearing: BIND_HOST must be set/],
      ["when the notifier has no SMTP sink", (copy) => delete copy.services.notifier.environment.SMTP_URL, /^notifier: SMTP_URL must be set/],
      ["when the sealing keys are not mounted", (copy) => {
        copy.services.wallet.secrets = copy.services.wallet.secrets.filter((entry: { source: string }) => entry.source !== "wallet-data-keys");
      }, /^wallet: DATA_KEYS is required by wallet/],
      ["when the notification keys are not mounted", (copy) => {
        copy.services.notifier.secrets = copy.services.notifier.secrets.filter((entry: { source: string }) => entry.source !== "notify-data-keys");
      }, /^notifier: NOTIFY_DATA_KEYS is required by notifier/],
      ["when a variable is misspelt", (copy) => { copy.services.clearing.environment.NATS_ULR = "nats://nats:4222"; }, /^clearing: NATS_ULR is not a setting of clearing/],
      ["when a variable belongs to another service", (copy) => { copy.services.wallet.environment.SMTP_URL = "smtp://sinks:2525"; }, /^wallet: SMTP_URL is not a setting of wallet/],
      ["when a value does not parse", (copy) => { copy.services.wallet.environment.LOG_LEVEL = "loud"; }, /^wallet: LOG_LEVEL="loud" is invalid/],
      ["when the store is SQLite", (copy) => { copy.services["e-commerce-connector"].environment.STORE_URL = "sqlite:/var/lib/clearmesh/x.db"; }, /STORE_URL must be postgres/],
      ["when a store's database is not created", (copy) => {
        copy.services.postgres.environment.CLEARMESH_DATABASES = "clearing wallet e-commerce-connector notifier";
      }, /^bank-adapter: database bank-adapter is not created/],
      ["when NATS_URL points elsewhere", (copy) => { copy.services.notifier.environment.NATS_URL = "nats://postgres:5432"; }, /NATS_URL must point at the nats service/],
      ["when an address points at the wrong service", (copy) => { copy.services.wallet.environment.BANK_ADAPTER_ADDRESS = "notifier:50055"; },
        /^wallet: BANK_ADAPTER_ADDRESS=notifier:50055 must point at bank-adapter/],
      ["when a port is not exposed", (copy) => { copy.services.notifier.environment.HTTP_PORT = "9999"; }, /^notifier: must expose its port 9999/],
      ["when the health check asks another port", (copy) => { copy.services["bank-adapter"].healthcheck.test = ["CMD", "node", "deploy/healthcheck.mjs", "8051"]; },
        /^bank-adapter: its healthcheck must ask \/healthz on HTTP_PORT 8052/],
      ["when a hosted participant's key is not mounted", (copy) => { copy.services["bank-adapter"].environment.HOSTED_PARTICIPANTS = "bank-a,bank-b,bank-c"; },
        /^bank-adapter: hosts bank-c but does not mount its key/],
      ["when the identity key is not mounted", (copy) => { copy.services.wallet.environment.IDENTITY_KEY_FILE = "/run/secrets/other.key"; },
        /^wallet: its identity key \/run\/secrets\/other.key is not a mounted secret/],
      ["when a secret is not a file make-secrets creates", (copy) => { copy.secrets["wallet-key"].file = "${CLEARMESH_SECRETS_DIR:-./deploy/secrets}/wallet.pem"; },
        /^secret wallet-key: .*wallet.pem is not a file deploy\/make-secrets.sh creates/],
      ["when a used secret is not declared", (copy) => { delete copy.secrets["notify-data-keys"]; }, /uses secret notify-data-keys, which is not declared/],
      ["when there is no NATS", (copy) => { delete copy.services.nats; }, /^there must be one nats service/],
      ["when NATS keeps no store", (copy) => { copy.services.nats.command = ["nats-server", "-js"]; }, /^nats: must keep its JetStream store on a volume/],
      ["when a service starts before registration", (copy) => { delete copy.services.notifier.depends_on.register; }, /^notifier: must wait for register/],
      ["when a service has no restart policy", (copy) => { delete copy.services.wallet.restart; }, /^wallet: needs a restart policy/],
    ];
    it.each(cases)("%s", (_name, change, expected) => {
      const problems = checkCompose(mutated(change), context);
      expect(problems).toContainEqual(expect.stringMatching(expected));
    });

    it("when the env file lacks a variable the compose file requires", () => {
      const { OPERATOR_PUBLIC_KEY: _removed, ...rest } = variables;
      const problems = checkCompose(compose, { ...context, variables: rest });
      expect(problems).toContainEqual(expect.stringContaining(`\${OPERATOR_PUBLIC_KEY} is not set (${secretRequired})`));
    });
  });
});

describe("deploy/make-secrets.sh", () => {
  it("creates every file it lists: matching key pairs, sealing keys, passwords and the env file", () => {
    for (const file of secretOutputs) expect(fs.existsSync(path.join(secretsDir, file)), file).toBe(true);
    for (const file of secretOutputs.filter((name) => name.endsWith(".key"))) {
      const id = file.slice(0, -".key".length);
      const seed = parseSeedHex(fs.readFileSync(path.join(secretsDir, file), "utf8"), file);
      expect(fs.readFileSync(path.join(secretsDir, "public", `${id}.pub`), "utf8").trim()).toBe(toHex(publicKeyFromSeed(seed)));
    }
    for (const file of secretOutputs.filter((name) => name.endsWith(".data-keys"))) {
      expect(parseDataKeys(fs.readFileSync(path.join(secretsDir, file), "utf8").trim()).activeKeyId).toBe("k1");
    }
    expect(variables.OPERATOR_PUBLIC_KEY).toBe(`operator-1:${fs.readFileSync(path.join(secretsDir, "public", "operator.pub"), "utf8").trim()}`);
    expect(variables.CLEARING_PUBLIC_KEY).toBe(`clearing-1:${fs.readFileSync(path.join(secretsDir, "public", "clearing.pub"), "utf8").trim()}`);
    expect(variables.CLEARMESH_SECRETS_DIR).toBe(secretsDir);
    expect(fs.statSync(secretsDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(secretsDir, "compose.env")).mode & 0o777).toBe(0o600);
  });

  it("never replaces an existing key or password on a second run", () => {
    const before = Object.fromEntries(secretOutputs.map((file) => [file, fs.readFileSync(path.join(secretsDir, file), "utf8")]));
    execFileSync("bash", [makeSecrets, secretsDir], { stdio: "pipe" });
    for (const file of secretOutputs) expect(fs.readFileSync(path.join(secretsDir, file), "utf8"), file).toBe(before[file]);
  });

  it("refuses a corrupt key file", () => {
    const dir = path.join(workDir, "corrupt");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "operator.key"), "not a key\n");
    const result = spawnSync("bash", [makeSecrets, dir], { encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("operator.key is corrupt");
  });
});

describe("Dockerfile", () => {
  const workspaces = ["packages", "services"].flatMap((folder) => fs.readdirSync(path.join(root, folder))
    .filter((name) => fs.existsSync(path.join(root, folder, name, "package.json"))).map((name) => `${folder}/${name}`));
  const dockerfile = fs.readFileSync(path.join(root, "Dockerfile"), "utf8");

  it("builds in two stages, installs every workspace, runs as a non-root user with a health check", () => {
    expect(checkDockerfile(dockerfile, workspaces)).toEqual([]);
  });

  it("is reported when it would run as root or miss a workspace", () => {
    expect(checkDockerfile(dockerfile.replace(/^USER node$/m, ""), workspaces)).toContainEqual(expect.stringMatching(/non-root USER/));
    expect(checkDockerfile(dockerfile, [...workspaces, "services/ledger"])).toContainEqual(expect.stringMatching(/services\/ledger\/package.json/));
  });

  it("keeps secrets and local data out of the build context", () => {
    const ignored = fs.readFileSync(path.join(root, ".dockerignore"), "utf8").split("\n").map((line) => line.trim());
    expect(ignored).toEqual(expect.arrayContaining(["deploy/secrets", "data", "**/node_modules", ".git"]));
    expect(fs.readFileSync(path.join(root, ".gitignore"), "utf8")).toMatch(/^deploy\/secrets\/$/m);
  });
});

describe("docker-compose config", () => {
  const dockerCompose = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"].find((file) => fs.existsSync(file))
    ?? (spawnSync("sh", ["-c", "command -v docker-compose"], { encoding: "utf8" }).stdout.trim() || undefined);
  const run = (args: string[]) => {
    if (!dockerCompose) {
      throw new Error("docker-compose is not installed: install Debian's docker-compose package (apt-get install -y docker-compose; .ci/run does) to validate docker-compose.yml");
    }
    // A clean environment: only the env file supplies the variables.
    return spawnSync(dockerCompose, ["--project-directory", root, ...args], {
      cwd: root, encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workDir }, timeout: 60_000,
    });
  };

  it("validates the file with the env file make-secrets wrote (docker-compose config -q)", () => {
    const result = run(["--env-file", path.join(secretsDir, "compose.env"), "-f", composeFile, "config", "-q"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const listed = run(["--env-file", path.join(secretsDir, "compose.env"), "-f", composeFile, "config", "--services"]);
    expect(listed.stdout.trim().split("\n").sort()).toEqual(Object.keys(compose.services as object).sort());
  });

  it("refuses to run without the secrets' env file, and says how to make it", () => {
    const emptyEnv = path.join(workDir, "empty.env");
    fs.writeFileSync(emptyEnv, "");
    const result = run(["--env-file", emptyEnv, "-f", composeFile, "config", "-q"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("run deploy/make-secrets.sh");
  });
});

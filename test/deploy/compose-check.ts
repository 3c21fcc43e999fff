// Checks docker-compose.yml against what the services themselves declare: their settings
// schemas (scripts/config-docs.ts SERVICE_SCHEMAS), the files deploy/make-secrets.sh creates and
// the participants of deploy/participants.txt. Returns every problem found as a sentence naming
// the compose service; an empty list means the file is consistent. compose.test.ts runs it on the
// real file and on broken copies (a service or a variable removed, an unknown variable added).
import { SERVICE_NODE_FLAGS } from "../../packages/cli/src/start.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_PORTS, type Setting, type SettingsSchema } from "@clearmesh/runtime";
import type { YamlMap, YamlValue } from "./yaml.js";

export interface ComposeContext {
  /** Each service's settings schema, by service name. */
  schemas: Record<string, SettingsSchema>;
  /** Values for `${…}` interpolation, as docker-compose would read them from the env file. */
  variables: Record<string, string>;
  /** Files deploy/make-secrets.sh creates, relative to its output folder (`make-secrets.sh --list`). */
  secretOutputs: readonly string[];
  /** The folder a real make-secrets run wrote: then every secret file must exist, and its content is what file defaults read. */
  secretsDir?: string;
  /** deploy/participants.txt. */
  participants: readonly { participantId: string; kind: string }[];
  /** Repository root, for files the compose file mounts from the checkout. */
  root: string;
}

/** Loopback defaults a service may keep: clearing ignores its own CLEARING_ADDRESS (the setting's doc says so). */
const LOOPBACK_DEFAULT_EXEMPT: Record<string, readonly string[]> = { clearing: ["CLEARING_ADDRESS"] };
/** The job that registers participants; every service but clearing needs it done before it can read the directory. */
const REGISTER_SCRIPT = "deploy/register-participants.ts";
const SECRETS_DIR_DEFAULT = "./deploy/secrets";
const LOOPBACK = /(^|[/@:])(127\.0\.0\.1|localhost|\[::1\])([:/]|$)/;
const RESTART_POLICIES = ["always", "unless-stopped", "on-failure"];

type Problems = string[];

interface Mount {
  secret: string;
  /** Absolute path inside the container. */
  target: string;
}

interface Instance {
  /** The compose service's name, e.g. clearing-standby. */
  composeName: string;
  /** The clearmesh service it runs, e.g. clearing. */
  service: string;
  definition: YamlMap;
  environment: Record<string, string>;
  mounts: Mount[];
}

// ---- interpolation ---------------------------------------------------------------------------

/** docker-compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$VAR`, `$$`. */
export function interpolate(value: string, variables: Record<string, string>, problems: Problems, where: string): string {
  return value.replace(/\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (_match, dollar: string | undefined, braced: string | undefined, operator: string | undefined, argument: string | undefined, bare: string | undefined) => {
      if (dollar) return "$";
      const name = (braced ?? bare)!;
      const set = Object.hasOwn(variables, name);
      const current = set ? variables[name]! : undefined;
      const empty = current === undefined || current === "";
      switch (operator) {
        case ":-": return empty ? argument! : current!;
        case "-": return set ? current! : argument!;
        case ":?":
        case "?":
          if (operator === ":?" ? empty : !set) problems.push(`${where}: \${${name}} is not set (${argument || "required"})`);
          return current ?? "";
        default:
          if (!set) problems.push(`${where}: \${${name}} is not set and has no default`);
          return current ?? "";
      }
    });
}

// ---- shape helpers -----------------------------------------------------------------------------

function isMap(value: YamlValue | undefined): value is YamlMap {
  return value !== null && value !== undefined && typeof value === "object" && !Array.isArray(value);
}

function mapOf(value: YamlValue | undefined): YamlMap {
  return isMap(value) ? value : {};
}

function listOf(value: YamlValue | undefined): YamlValue[] {
  return Array.isArray(value) ? value : [];
}

function stringsOf(value: YamlValue | undefined): string[] {
  return listOf(value).filter((item): item is string => typeof item === "string");
}

function containerPort(mapping: string): string {
  // "[host_ip:]host:container[/proto]" or "container"
  const withoutProtocol = mapping.split("/")[0]!;
  return withoutProtocol.split(":").at(-1)!;
}

function fallbackOf(setting: Setting<unknown>, environment: Record<string, string | undefined>): string | undefined {
  return typeof setting.fallback === "function" ? setting.fallback(environment) : setting.fallback;
}

function isInside(file: string, folder: string): boolean {
  const relative = path.posix.relative(folder, file);
  return relative !== "" && !relative.startsWith("..") && !path.posix.isAbsolute(relative);
}

// ---- the check ---------------------------------------------------------------------------------

export function checkCompose(compose: YamlMap, context: ComposeContext): string[] {
  const problems: Problems = [];
  const text = (value: YamlValue | undefined, where: string): string =>
    typeof value === "string" ? interpolate(value, context.variables, problems, where) : "";
  const services = mapOf(compose.services);
  const declaredSecrets = mapOf(compose.secrets);
  const declaredVolumes = mapOf(compose.volumes);
  if (Object.keys(services).length === 0) return ["docker-compose.yml has no services"];

  const secretsBase = interpolate("${CLEARMESH_SECRETS_DIR:-" + SECRETS_DIR_DEFAULT + "}", context.variables, problems, "secrets folder");
  const outputs = new Set(context.secretOutputs);
  const outputFolders = new Set(context.secretOutputs.filter((file) => file.includes("/")).map((file) => file.split("/")[0]!));
  /** A path under the secrets folder, relative to it; undefined when it is elsewhere. */
  const secretRelative = (file: string): string | undefined =>
    file.startsWith(`${secretsBase}/`) ? file.slice(secretsBase.length + 1) : undefined;

  // Top-level secrets: each a file make-secrets creates.
  const secretFiles = new Map<string, string>();
  for (const [name, definition] of Object.entries(declaredSecrets)) {
    const file = text(mapOf(definition).file, `secret ${name}`);
    const relative = secretRelative(file);
    if (!file) {
      problems.push(`secret ${name}: needs a file`);
    } else if (relative === undefined || !outputs.has(relative)) {
      problems.push(`secret ${name}: ${file} is not a file deploy/make-secrets.sh creates (${secretsBase}/<one of its --list>)`);
    } else {
      secretFiles.set(name, relative);
      if (context.secretsDir && !fs.existsSync(path.join(context.secretsDir, relative))) {
        problems.push(`secret ${name}: make-secrets did not create ${relative}`);
      }
    }
  }

  const mountsOf = (composeName: string, definition: YamlMap): Mount[] =>
    listOf(definition.secrets).flatMap((entry): Mount[] => {
      const secret = typeof entry === "string" ? entry : text(mapOf(entry).source, `${composeName} secrets`);
      const rawTarget = isMap(entry) && typeof entry.target === "string" ? text(entry.target, `${composeName} secrets`) : secret;
      if (!Object.hasOwn(declaredSecrets, secret)) problems.push(`${composeName}: uses secret ${secret}, which is not declared under secrets:`);
      return [{ secret, target: rawTarget.startsWith("/") ? rawTarget : `/run/secrets/${rawTarget}` }];
    });

  // Volumes: named ones declared; bind mounts from the secrets folder only of what make-secrets creates.
  for (const [composeName, definition] of Object.entries(services)) {
    for (const volume of stringsOf(mapOf(definition).volumes)) {
      const source = text(volume, `${composeName} volumes`).split(":")[0]!;
      if (!source.startsWith(".") && !source.startsWith("/") && !Object.hasOwn(declaredVolumes, source)) {
        problems.push(`${composeName}: volume ${source} is not declared under volumes:`);
      }
      const relative = secretRelative(source);
      if (relative !== undefined && !outputs.has(relative) && !outputFolders.has(relative)) {
        problems.push(`${composeName}: mounts ${relative} from the secrets folder, which make-secrets does not create`);
      }
      if (source.startsWith("./") && !fs.existsSync(path.join(context.root, source))) {
        problems.push(`${composeName}: mounts ${source}, which does not exist in the repository`);
      }
    }
    for (const [dependency, condition] of Object.entries(mapOf(mapOf(definition).depends_on))) {
      if (!Object.hasOwn(services, dependency)) problems.push(`${composeName}: depends on ${dependency}, which is not a service`);
      const wanted = text(mapOf(condition).condition, `${composeName} depends_on`);
      if (!["service_healthy", "service_completed_successfully", "service_started"].includes(wanted)) {
        problems.push(`${composeName}: depends_on ${dependency} needs a condition`);
      }
    }
    if (Array.isArray(mapOf(definition).depends_on)) problems.push(`${composeName}: depends_on must name conditions (service_healthy, …), not be a plain list`);
  }

  const imageOf = (definition: YamlMap, composeName: string) => text(definition.image, `${composeName} image`);
  const named = (prefix: string) => Object.entries(services).filter(([composeName, definition]) => imageOf(mapOf(definition), composeName).startsWith(prefix)).map(([composeName]) => composeName);
  const natsServices = named("nats:");
  const postgresServices = named("postgres:");
  const exposedPorts = (definition: YamlMap, composeName: string): Set<string> => new Set([
    ...stringsOf(definition.expose).map((port) => text(port, `${composeName} expose`)),
    ...stringsOf(definition.ports).map((port) => containerPort(text(port, `${composeName} ports`))),
  ]);

  // NATS with JetStream and a persistent store.
  if (natsServices.length !== 1) problems.push(`there must be one nats service (image nats:2.10…), found ${natsServices.length}`);
  for (const composeName of natsServices) {
    const definition = mapOf(services[composeName]);
    const command = stringsOf(definition.command);
    const storeDir = command[command.indexOf("-sd") + 1];
    if (!command.includes("-js") && !command.includes("--jetstream")) problems.push(`${composeName}: must run with -js (JetStream)`);
    if (!command.includes("-sd") || !storeDir) problems.push(`${composeName}: must keep its JetStream store on a volume (-sd <dir>)`);
    else if (!stringsOf(definition.volumes).some((volume) => volume.endsWith(`:${storeDir}`) && Object.hasOwn(declaredVolumes, volume.split(":")[0]!))) {
      problems.push(`${composeName}: its store ${storeDir} must be a named volume`);
    }
    if (!isMap(definition.healthcheck)) problems.push(`${composeName}: needs a healthcheck`);
  }

  // PostgreSQL: one database per service, created by the init script, on a named volume.
  if (postgresServices.length !== 1) problems.push(`there must be one postgres service (image postgres:15…), found ${postgresServices.length}`);
  const postgres = postgresServices[0];
  const postgresDefinition = mapOf(postgres === undefined ? undefined : services[postgres]);
  const postgresEnvironment = mapOf(postgresDefinition.environment);
  const databases = text(postgresEnvironment.CLEARMESH_DATABASES, "postgres environment").split(/\s+/).filter(Boolean);
  const postgresMounts = postgres === undefined ? [] : mountsOf(postgres, postgresDefinition);
  if (postgres !== undefined) {
    const volumes = stringsOf(postgresDefinition.volumes);
    if (!volumes.some((volume) => volume.endsWith(":/var/lib/postgresql/data") && Object.hasOwn(declaredVolumes, volume.split(":")[0]!))) {
      problems.push(`${postgres}: /var/lib/postgresql/data must be a named volume`);
    }
    if (!volumes.some((volume) => volume.includes(":/docker-entrypoint-initdb.d/"))) problems.push(`${postgres}: must mount the database init script into /docker-entrypoint-initdb.d`);
    const passwordFile = text(postgresEnvironment.POSTGRES_PASSWORD_FILE, `${postgres} environment`);
    if (!postgresMounts.some((mount) => mount.target === passwordFile)) problems.push(`${postgres}: POSTGRES_PASSWORD_FILE must be a mounted secret`);
    if (!isMap(postgresDefinition.healthcheck)) problems.push(`${postgres}: needs a healthcheck`);
  }

  // The clearmesh services: compose services running an image clearmesh/<service> without a command of their own.
  const instances: Instance[] = [];
  const jobs: string[] = [];
  for (const [composeName, value] of Object.entries(services)) {
    const definition = mapOf(value);
    const match = /^clearmesh\/([a-z0-9-]+):/.exec(imageOf(definition, composeName));
    if (!match) continue;
    const service = match[1]!;
    if (!Object.hasOwn(context.schemas, service)) {
      problems.push(`${composeName}: image clearmesh/${service} is not a clearmesh service (${Object.keys(context.schemas).join(", ")})`);
      continue;
    }
    const build = mapOf(definition.build);
    if (definition.build !== undefined && (text(build.context, `${composeName} build`) !== "." || text(mapOf(build.args).SERVICE, `${composeName} build`) !== service)) {
      problems.push(`${composeName}: must build context . with SERVICE=${service}, the service its image is named after`);
    }
    if (definition.command !== undefined) {
      jobs.push(composeName);
      continue;
    }
    if (Array.isArray(definition.environment)) problems.push(`${composeName}: write environment as a mapping`);
    const environment = Object.fromEntries(Object.entries(mapOf(definition.environment)).map(([name, raw]) => [name, text(raw, `${composeName} ${name}`)]));
    instances.push({ composeName, service, definition, environment, mounts: mountsOf(composeName, definition) });
  }

  // Every service of the schemas runs; clearing as an active/standby pair on one database.
  for (const service of Object.keys(context.schemas)) {
    if (!instances.some((instance) => instance.service === service)) problems.push(`service ${service} is missing (no compose service runs image clearmesh/${service})`);
  }
  const clearings = instances.filter((instance) => instance.service === "clearing");
  const storeUrls = new Set(clearings.map((instance) => instance.environment.STORE_URL));
  if (clearings.length < 2) problems.push("clearing needs a standby: a second clearing instance on the same STORE_URL (the active/standby pair)");
  else if (storeUrls.size !== 1) problems.push("the clearing instances must share one STORE_URL (the advisory lock on one database decides which is active)");

  const fronts = (service: string) => Object.entries(services)
    .filter(([, definition]) => text(mapOf(mapOf(definition).labels)["org.clearmesh.fronts"], "labels").split(",").includes(service))
    .map(([composeName]) => composeName);
  const grpcPortOf = (service: string) => instances.find((instance) => instance.service === service)?.environment.GRPC_PORT;
  const registerJobs = jobs.filter((composeName) => stringsOf(mapOf(services[composeName]).command).includes(REGISTER_SCRIPT));
  if (registerJobs.length !== 1) problems.push(`one job must run ${REGISTER_SCRIPT} (registers the participants at clearing), found ${registerJobs.length}`);
  for (const job of registerJobs) {
    const mounts = mountsOf(job, mapOf(services[job]));
    if (!mounts.some((mount) => secretFiles.get(mount.secret) === "operator.key")) problems.push(`${job}: must mount the operator's key (operator.key)`);
  }

  for (const instance of instances) checkInstance(instance);

  // deploy/participants.txt: every participant hosted, every service registered.
  const hosted = new Set(instances.flatMap((instance) => hostedParticipants(instance) ?? []));
  for (const participant of context.participants) {
    if (participant.kind === "service") {
      if (!Object.hasOwn(context.schemas, participant.participantId)) problems.push(`participants: ${participant.participantId} is registered as a service but is not one`);
    } else if (!hosted.has(participant.participantId)) {
      problems.push(`participants: ${participant.participantId} is registered but no service hosts it (HOSTED_PARTICIPANTS)`);
    }
  }
  for (const service of Object.keys(context.schemas)) {
    if (service !== "clearing" && !context.participants.some((participant) => participant.participantId === service && participant.kind === "service")) {
      problems.push(`participants: ${service} must be registered (kind service) or it cannot read clearing's directory`);
    }
  }
  return problems;

  function hostedParticipants(instance: Instance): string[] | undefined {
    const setting = Object.values(context.schemas[instance.service]!).find((candidate) => candidate.env === "HOSTED_PARTICIPANTS");
    if (!setting) return undefined;
    const value = instance.environment.HOSTED_PARTICIPANTS || fallbackOf(setting, instance.environment) || "";
    return value.split(",").filter(Boolean);
  }

  function checkInstance(instance: Instance): void {
    const { composeName: name, service, environment, definition, mounts } = instance;
    const schema = context.schemas[service]!;
    const settings = new Map(Object.values(schema).map((setting) => [setting.env, setting]));
    const dataDir = environment.CLEARMESH_DATA_DIR;
    if (!dataDir || !dataDir.startsWith("/")) problems.push(`${name}: set CLEARMESH_DATA_DIR to the image's absolute data folder (keys are mounted under it)`);

    // No variable the service does not know (a typo would silently leave the default).
    for (const [variable, value] of Object.entries(environment)) {
      const setting = settings.get(variable);
      if (!setting) {
        problems.push(`${name}: ${variable} is not a setting of ${service} (typo?)`);
        continue;
      }
      try {
        setting.parse(value);
      } catch (error) {
        problems.push(`${name}: ${variable}=${setting.secret ? "(secret)" : JSON.stringify(value)} is invalid: ${(error as Error).message}`);
      }
    }

    // Every required setting: set, or read by its default from a file a secret is mounted at.
    // The defaults are evaluated in a data folder holding only what this service mounts there.
    const simulated = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-compose-check-"));
    try {
      for (const mount of mounts) {
        if (!dataDir || !isInside(mount.target, dataDir)) continue;
        const file = path.join(simulated, path.posix.relative(dataDir, mount.target));
        const source = secretFiles.get(mount.secret);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, context.secretsDir && source ? fs.readFileSync(path.join(context.secretsDir, source)) : "placeholder\n");
      }
      const simulatedEnvironment = { ...environment, CLEARMESH_DATA_DIR: simulated };
      for (const setting of settings.values()) {
        if (environment[setting.env]) continue;
        const fallback = fallbackOf(setting, simulatedEnvironment);
        if (fallback === undefined) {
          if (!setting.optional) problems.push(`${name}: ${setting.env} is required by ${service}: set it, or mount a secret where its default reads it`);
        } else if (context.secretsDir) {
          try {
            setting.parse(fallback);
          } catch (error) {
            problems.push(`${name}: ${setting.env} from its mounted file is invalid: ${(error as Error).message}`);
          }
        }
      }
    } finally {
      fs.rmSync(simulated, { recursive: true, force: true });
    }

    // A default on 127.0.0.1 cannot reach another container: it must be set, to a compose service.
    for (const setting of settings.values()) {
      const fallback = typeof setting.fallback === "string" ? setting.fallback : undefined;
      if (fallback === undefined || !LOOPBACK.test(fallback) || LOOPBACK_DEFAULT_EXEMPT[service]?.includes(setting.env)) continue;
      const value = environment[setting.env];
      if (!value) {
        problems.push(`${name}: ${setting.env} must be set: its default ${fallback} is this container itself`);
        continue;
      }
      if (LOOPBACK.test(value)) {
        problems.push(`${name}: ${setting.env}=${value} points at the container itself`);
        continue;
      }
      const address = /^127\.0\.0\.1:(\d+)$/.exec(fallback);
      if (address) checkAddress(name, setting.env, value, Number(address[1]));
      else if (/^[a-z]+:\/\//.test(fallback)) checkUrl(name, setting.env, value, setting.secret === true);
    }

    // The trust anchors, given explicitly to every service.
    for (const anchor of ["OPERATOR_PUBLIC_KEY", "CLEARING_PUBLIC_KEY"]) {
      if (!environment[anchor]) problems.push(`${name}: ${anchor} must be set (a trust anchor every service gets)`);
    }

    // PostgreSQL: the service's own database and role, on the postgres service.
    const storeUrl = environment.STORE_URL ?? "";
    let store: URL | undefined;
    try {
      store = new URL(storeUrl);
    } catch {
      store = undefined;
    }
    if (!store || !["postgres:", "postgresql:"].includes(store.protocol)) {
      problems.push(`${name}: STORE_URL must be postgres://… (the service's database on the postgres service)`);
    } else {
      const database = decodeURIComponent(store.pathname.slice(1));
      if (postgres === undefined || store.hostname !== postgres) problems.push(`${name}: STORE_URL must point at the postgres service`);
      if (database !== service) problems.push(`${name}: STORE_URL must use the database ${service} (one database per service), not ${database}`);
      if (!databases.includes(database)) problems.push(`${name}: database ${database} is not created by postgres (CLEARMESH_DATABASES)`);
      if (decodeURIComponent(store.username) !== database || !store.password) problems.push(`${name}: STORE_URL must log in as the role ${database} with its password`);
      if (!postgresMounts.some((mount) => mount.target === `/run/secrets/${database}-db-password`)) {
        problems.push(`${name}: postgres must mount the secret ${database}-db-password (the role's password for the init script)`);
      }
    }

    // Ports: set explicitly, exposed, and the health check on the HTTP port.
    const grpc = environment.GRPC_PORT;
    const http = environment.HTTP_PORT;
    if (!grpc || !http) problems.push(`${name}: GRPC_PORT and HTTP_PORT must be set`);
    const exposed = exposedPorts(definition, name);
    for (const port of [grpc, http]) if (port && !exposed.has(port)) problems.push(`${name}: must expose its port ${port}`);
    for (const port of exposed) if (port !== grpc && port !== http) problems.push(`${name}: exposes ${port}, which is neither GRPC_PORT nor HTTP_PORT`);
    const healthcheck = mapOf(definition.healthcheck);
    const test = stringsOf(healthcheck.test);
    if (healthcheck.disable === "true" || test.length === 0) problems.push(`${name}: needs a healthcheck`);
    else if (!test.includes(http ?? "") || !test.some((part) => part.includes("healthcheck.mjs") || part.includes("/healthz"))) {
      problems.push(`${name}: its healthcheck must ask /healthz on HTTP_PORT ${http}`);
    }

    // Keys: the identity key and every hosted participant's key are mounted secrets.
    const identitySetting = settings.get("IDENTITY_KEY_FILE");
    const identityFile = environment.IDENTITY_KEY_FILE || (identitySetting ? fallbackOf(identitySetting, environment) : undefined);
    const identityMount = mounts.find((mount) => mount.target === identityFile);
    if (!identityMount) problems.push(`${name}: its identity key ${identityFile} is not a mounted secret`);
    else if (secretFiles.get(identityMount.secret) !== undefined && secretFiles.get(identityMount.secret) !== `${service}.key`) {
      problems.push(`${name}: its identity key must be ${service}.key, not ${secretFiles.get(identityMount.secret)}`);
    }
    for (const participantId of hostedParticipants(instance) ?? []) {
      const target = `${dataDir}/keys/${participantId}.key`;
      const mount = mounts.find((candidate) => candidate.target === target);
      if (!mount) problems.push(`${name}: hosts ${participantId} but does not mount its key at ${target}`);
      else if (secretFiles.get(mount.secret) !== undefined && secretFiles.get(mount.secret) !== `${participantId}.key`) {
        problems.push(`${name}: the key mounted for ${participantId} must be ${participantId}.key`);
      }
      if (!context.participants.some((participant) => participant.participantId === participantId)) {
        problems.push(`${name}: hosts ${participantId}, which deploy/participants.txt does not register`);
      }
    }

    // Start order and restarts.
    const dependsOn = mapOf(definition.depends_on);
    const condition = (dependency: string) => text(mapOf(dependsOn[dependency]).condition, `${name} depends_on`);
    for (const dependency of [...natsServices, ...postgresServices]) {
      if (condition(dependency) !== "service_healthy") problems.push(`${name}: must depend on ${dependency} being healthy`);
    }
    if (service !== "clearing") {
      for (const job of registerJobs) {
        if (condition(job) !== "service_completed_successfully") problems.push(`${name}: must wait for ${job} (its participants registered at clearing)`);
      }
    }
    if (!RESTART_POLICIES.includes(text(definition.restart, `${name} restart`))) problems.push(`${name}: needs a restart policy (${RESTART_POLICIES.join(", ")})`);
  }

  /** A `host:port` setting whose default is the service on that default port (DEFAULT_PORTS). */
  function checkAddress(name: string, variable: string, value: string, defaultPort: number): void {
    const target = Object.entries(DEFAULT_PORTS).find(([, ports]) => ports.grpc === defaultPort)?.[0];
    const [host = "", port = ""] = value.split(/:(?=\d+$)/);
    if (target === undefined) {
      if (!Object.hasOwn(services, host)) problems.push(`${name}: ${variable}=${value} does not name a compose service`);
      return;
    }
    const runsTarget = instances.some((instance) => instance.composeName === host && instance.service === target);
    const frontsTarget = fronts(target).includes(host);
    if (!runsTarget && !frontsTarget) problems.push(`${name}: ${variable}=${value} must point at ${target} (a compose service running it, or one that fronts it)`);
    if (port !== grpcPortOf(target)) problems.push(`${name}: ${variable} must use ${target}'s GRPC_PORT ${grpcPortOf(target)}, not ${port}`);
    if (frontsTarget && !exposedPorts(mapOf(services[host]), host).has(port)) problems.push(`${name}: ${host} does not expose ${port}`);
  }

  /** A URL setting whose default is on 127.0.0.1: it must name a compose service exposing that port. */
  function checkUrl(name: string, variable: string, value: string, secret: boolean): void {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      problems.push(`${name}: ${variable}=${secret ? "(secret)" : value} is not a URL`);
      return;
    }
    const definition = services[url.hostname];
    if (!isMap(definition)) {
      problems.push(`${name}: ${variable} must point at a compose service, not ${url.hostname}`);
      return;
    }
    if (url.port && !exposedPorts(definition, url.hostname).has(url.port)) problems.push(`${name}: ${variable} uses port ${url.port}, which ${url.hostname} does not expose`);
    if (variable === "NATS_URL" && !natsServices.includes(url.hostname)) problems.push(`${name}: NATS_URL must point at the nats service`);
  }
}

/** The Dockerfile: multi-stage on node:20-bookworm-slim, every workspace installed, non-root, a health check. */
export function checkDockerfile(dockerfile: string, workspaces: readonly string[]): string[] {
  const problems: string[] = [];
  const instructions = dockerfile.replace(/\\\n/g, " ").split("\n").map((line) => line.trim()).filter((line) => line && !line.startsWith("#"));
  const stages = instructions.filter((line) => /^FROM\s/i.test(line));
  if (stages.length < 2) problems.push("Dockerfile: needs a build stage and a runtime stage");
  if (!/ARG NODE_IMAGE=node:20-bookworm-slim/.test(dockerfile) && !stages.every((line) => line.includes("node:20-bookworm-slim"))) {
    problems.push("Dockerfile: stages must be based on node:20-bookworm-slim");
  }
  if (!instructions.some((line) => /^RUN\b.*\bnpm ci\b/.test(line))) problems.push("Dockerfile: the build stage must run npm ci");
  if (!instructions.some((line) => /^RUN\b.*apt-get install.*\bpython3\b.*\bmake\b.*\bg\+\+/.test(line))) problems.push("Dockerfile: the build stage needs python3, make and g++ (better-sqlite3)");
  for (const workspace of workspaces) {
    if (!instructions.some((line) => line.startsWith(`COPY ${workspace}/package.json `))) {
      problems.push(`Dockerfile: npm ci needs ${workspace}/package.json copied before it`);
    }
  }
  const runtime = instructions.slice(instructions.lastIndexOf(stages.at(-1) ?? ""));
  const user = runtime.filter((line) => /^USER\s/i.test(line)).at(-1);
  if (!user || /^USER\s+(root|0)(:|$)/i.test(user)) problems.push("Dockerfile: the runtime stage must run as a non-root USER");
  if (!runtime.some((line) => /^HEALTHCHECK\b/.test(line) && line.includes("healthcheck.mjs"))) problems.push("Dockerfile: needs a HEALTHCHECK");
  if (!instructions.some((line) => /^RUN\b.*\bnpm run build\b/.test(line))) problems.push("Dockerfile: the build stage must run npm run build");
  if (!runtime.some((line) => /^CMD\b/.test(line) && line.includes("dist/$SERVICE.mjs") && !line.includes("tsx"))) {
    problems.push("Dockerfile: must run node dist/$SERVICE.mjs (the bundle npm run build makes)");
  }
  if (!runtime.some((line) => /^CMD\b/.test(line) && SERVICE_NODE_FLAGS.every((flag) => line.includes(flag)))) {
    problems.push(`Dockerfile: must start node with ${SERVICE_NODE_FLAGS.join(" ")} (as npm start does)`);
  }
  if (runtime.some((line) => /apt-get install/.test(line))) problems.push("Dockerfile: the runtime stage must not install a compiler");
  return problems;
}

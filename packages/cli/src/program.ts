// The `clearmesh` command line (commander). Each action is a thin wrapper over a module;
// runCli turns every outcome into an exit code: 0 success, 1 call or validation error, 2 usage error.
import { Command, CommanderError, Option } from "commander";
import { callProcedure, parseTimeoutOption } from "./call.js";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, formatRpcError } from "./errors.js";
import { generateKey, resolveDataDir } from "./keys.js";
import { DEFAULT_CLEARING_ADDRESS, PARTICIPANT_KINDS, addParticipant, participantJson, showParticipant } from "./participants.js";
import { GRPCURL_ENCODING_NOTE, formatGrpcurlHeaders, formatSignedJson, grpcurlExample, signRequest } from "./sign.js";

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface GlobalOptions {
  dataDir?: string;
}

function dataDirOf(command: Command): string {
  return resolveDataDir(command.optsWithGlobals<GlobalOptions>().dataDir);
}

function clearingOption(): Option {
  return new Option("--clearing <host:port>", "clearing's gRPC address").default(process.env.CLEARING_ADDRESS || DEFAULT_CLEARING_ADDRESS);
}

function connectionOptions(command: Command): Command {
  return command
    .addOption(new Option("--tls-ca <file>", "call over TLS, trusting this PEM CA bundle (default: plaintext h2c)"))
    .option("--no-verify-response", "do not check the response signature of the answering service")
    .option("--timeout <ms>", "deadline of the call in milliseconds", "15000");
}

export function createProgram(io: CliIo = processIo): Command {
  const program = new Command("clearmesh")
    .description("Operate a clearmesh mesh: key files, participants, signed calls (PROTOCOL.md §3).")
    .option("--data-dir <dir>", "data folder holding keys/<participant-id>.key and .pub (default: $CLEARMESH_DATA_DIR or ./data)")
    .exitOverride()
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: (text) => io.err(text) })
    .showHelpAfterError("(add --help for usage)");

  program
    .command("start")
    .description("start the whole mesh on this host (keys are created on first run)")
    .action(async (_options: object, command: Command) => {
      const { runMesh } = await import("./start.js");
      await runMesh({ dataDir: dataDirOf(command) });
    });

  program
    .command("demo")
    .description("run the end-to-end demo against a running mesh (`npm start`): liquidity, users, mandates, P2P, wallet and card payments, settlement, reconciliation")
    .action(async (_options: object, command: Command) => {
      const { runDemo } = await import("./demo.js");
      const code = await runDemo({ dataDir: dataDirOf(command), out: (line) => io.out(`${line}\n`) });
      if (code !== EXIT_OK) throw new CliError("the demo failed (see above)", code);
    });

  const keys = program.command("keys").description("manage Ed25519 key files in <data>/keys");
  keys
    .command("generate")
    .description("create <data>/keys/<id>.key (seed, 64 hex, mode 0600) and <id>.pub (public key hex); the key id is <id>-1")
    .argument("<participant-id...>", "participant id(s), e.g. operator clearing bank-a")
    .option("--force", "replace an existing key (the old key is lost)", false)
    .action((participantIds: string[], options: { force: boolean }, command: Command) => {
      const dataDir = dataDirOf(command);
      for (const participantId of participantIds) {
        const key = generateKey(dataDir, participantId, { force: options.force });
        io.out(`${key.participantId}: key id ${key.keyId}\n  key file:        ${key.keyFile} (mode 0600, keep it secret)\n  public key file: ${key.publicKeyFile}\n  public key:      ${key.publicKeyHex}\n`);
      }
    });

  const participant = program.command("participant").description("register and read participants in clearing's directory");
  connectionOptions(
    participant
      .command("add")
      .description("register a participant with its public key (signed by the operator, <data>/keys/operator.key)")
      .argument("<participant-id>")
      .requiredOption("--name <name>", "display name")
      .addOption(new Option("--kind <kind>", "kind of member").choices(Object.keys(PARTICIPANT_KINDS)).makeOptionMandatory())
      .option("--currency <code>", "ISO 4217 code it transacts in (repeat for several)", collect, [])
      .option("--public-key-hex <hex>", "public key to register (default: <data>/keys/<id>.pub)")
      .option("--key-id <id>", "key id to register (default: <id>-1)")
      .option("--operator-key-id <id>", "key id of the operator's key", "operator-1")
      .addOption(clearingOption()),
  ).action(async (participantId: string, options: AddCommandOptions, command: Command) => {
    const added = await addParticipant(participantId, {
      dataDir: dataDirOf(command),
      clearing: options.clearing,
      name: options.name,
      kind: options.kind,
      currencies: options.currency,
      operatorKeyId: options.operatorKeyId,
      verifyResponse: options.verifyResponse,
      timeoutMs: parseTimeoutOption(options.timeout),
      ...optional("publicKeyHex", options.publicKeyHex),
      ...optional("keyId", options.keyId),
      ...optional("tlsCa", options.tlsCa),
    });
    io.out(`${participantJson(added)}\n`);
  });

  connectionOptions(
    participant
      .command("show")
      .description("print a participant with its keys (signed GetParticipant)")
      .argument("<participant-id>")
      .option("--as <participant-id>", "signer (default: operator)", "operator")
      .option("--key-id <id>", "signer's key id (default: <signer>-1)")
      .addOption(clearingOption()),
  ).action(async (participantId: string, options: ShowCommandOptions, command: Command) => {
    const shown = await showParticipant(participantId, {
      dataDir: dataDirOf(command),
      clearing: options.clearing,
      as: options.as,
      verifyResponse: options.verifyResponse,
      timeoutMs: parseTimeoutOption(options.timeout),
      ...optional("keyId", options.keyId),
      ...optional("tlsCa", options.tlsCa),
    });
    io.out(`${participantJson(shown)}\n`);
  });

  program
    .command("sign")
    .description("print the cm-* headers of a signed call, for grpcurl -H")
    .argument("<procedure>", "/<package>.<Service>/<Method>, e.g. /clearmesh.clearing.v1.ClearingService/CreateTransfer")
    .argument("<json>", "the request message as proto3 JSON")
    .requiredOption("--as <participant-id>", "the calling participant (key <data>/keys/<id>.key)")
    .option("--key-id <id>", "key id (default: <participant-id>-1)")
    .addOption(new Option("--format <format>", "text: -H lines for grpcurl; json: {headers, request_base64}").choices(["text", "json"]).default("text"))
    .option("--nonce <base64url>", "fixed cm-nonce (at least 16 bytes; default random) — for reproducible output")
    .option("--timestamp <ms>", "fixed cm-timestamp in ms since the epoch (default now) — for reproducible output")
    .addHelpText("after", `\nNote: ${GRPCURL_ENCODING_NOTE}\nThe headers are valid for 300 s (the server's skew window) and each nonce is accepted once.`)
    .action((procedure: string, json: string, options: SignCommandOptions, command: Command) => {
      const signed = signRequest(procedure, json, {
        dataDir: dataDirOf(command),
        as: options.as,
        ...optional("keyId", options.keyId),
        ...optional("nonce", options.nonce),
        ...optional("timestamp", options.timestamp),
      });
      io.out(options.format === "json" ? `${formatSignedJson(signed)}\n` : `${formatGrpcurlHeaders(signed.headers)}\n`);
      io.err(`note: ${GRPCURL_ENCODING_NOTE}\nexample:\n  ${grpcurlExample(signed, json)}\n`);
    });

  connectionOptions(
    program
      .command("call")
      .description("make a signed call with a JSON request, verify the response signature, print the response as JSON")
      .argument("<address>", "host:port of the service's gRPC port")
      .argument("<procedure>", "/<package>.<Service>/<Method>, e.g. /clearmesh.clearing.v1.ClearingService/CreateTransfer")
      .argument("<json>", "the request message as proto3 JSON")
      .option("--as <participant-id>", "the calling participant (key <data>/keys/<id>.key); required unless --unsigned")
      .option("--key-id <id>", "key id (default: <participant-id>-1)")
      .addOption(new Option("--plaintext", "plaintext h2c (the default)").conflicts("tlsCa"))
      .option("--responder <participant-id>", "who must sign the response (default: the service owning the procedure: clearing, bank-adapter, wallet, e-commerce-connector or notifier); its key is <data>/keys/<id>.pub")
      .option("--unsigned", "send no cm-* signature (wallet end-user methods, health); no response signature is checked")
      .option("--header <name: value>", "extra metadata, e.g. 'authorization: Bearer <token>' (repeatable)", collect, []),
  ).action(async (address: string, procedure: string, json: string, options: CallCommandOptions, command: Command) => {
    const result = await callProcedure(address, procedure, json, {
      dataDir: dataDirOf(command),
      unsigned: options.unsigned === true,
      headers: options.header,
      verifyResponse: options.verifyResponse,
      timeoutMs: parseTimeoutOption(options.timeout),
      ...optional("as", options.as),
      ...optional("keyId", options.keyId),
      ...optional("responder", options.responder),
      ...optional("tlsCa", options.tlsCa),
    });
    io.out(`${result.json}\n`);
  });

  return program;
}

interface ConnectionCommandOptions {
  tlsCa?: string;
  verifyResponse: boolean;
  timeout: string;
}

interface AddCommandOptions extends ConnectionCommandOptions {
  name: string;
  kind: string;
  currency: string[];
  publicKeyHex?: string;
  keyId?: string;
  operatorKeyId: string;
  clearing: string;
}

interface ShowCommandOptions extends ConnectionCommandOptions {
  as: string;
  keyId?: string;
  clearing: string;
}

interface SignCommandOptions {
  as: string;
  keyId?: string;
  format: "text" | "json";
  nonce?: string;
  timestamp?: string;
}

interface CallCommandOptions extends ConnectionCommandOptions {
  as?: string;
  keyId?: string;
  responder?: string;
  unsigned?: boolean;
  header: string[];
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Runs the command line (arguments after `clearmesh`) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    if (error instanceof CliError) {
      io.err(`error: ${error.message}\n`);
      return error.exitCode;
    }
    const rpc = formatRpcError(error);
    io.err(`${rpc ?? `error: ${error instanceof Error ? error.message : String(error)}`}\n`);
    return EXIT_FAILURE;
  }
}

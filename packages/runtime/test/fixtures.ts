// Shared fixtures of the runtime tests: a fake clearing service (in memory), a directory with
// a few participants and keys, a started server on free ports, and signing helpers for the
// gRPC, Connect and gRPC-Web clients.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { create, toBinary, type DescFile } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, type HandlerContext, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import {
  ClearingService,
  KeyStatus,
  ParticipantKind,
  ParticipantSchema,
  ParticipantStatus,
  TransferSchema,
  TransferState,
  clearmeshFiles,
  type Participant,
} from "@clearmesh/contracts";
import {
  HEADER_NONCE,
  createSigningKey,
  generateSeed,
  signRpcRequest,
  verifyRpcResponse,
  type HeaderGetter,
  type SigningKey,
} from "@clearmesh/trust";
import { createSignedClient, type ClientTls, type SignedClient } from "../src/client.js";
import { Directory } from "../src/directory.js";
import { Code, rpcError } from "../src/errors.js";
import { createLogger } from "../src/logging.js";
import { createServiceMetrics, type ServiceMetrics } from "../src/metrics.js";
import { callerOf } from "../src/pipeline.js";
import { registration } from "../src/registration.js";
import { startServer, type RunningServer, type ServerOptions } from "../src/server.js";

export const SERVICE = ClearingService.typeName;
export const GET_PARTICIPANT = `/${SERVICE}/GetParticipant`;
export const CREATE_TRANSFER = `/${SERVICE}/CreateTransfer`;
export const GET_TRANSFER = `/${SERVICE}/GetTransfer`;
export const REGISTER_PARTICIPANT = `/${SERVICE}/RegisterParticipant`;

/** gRPC status codes as numbers, for grpc-js errors. */
export const GrpcCode = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16,
} as const;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The keys every test server knows. */
export interface TestKeys {
  /** The answering service's identity ("clearing"). */
  identity: SigningKey;
  /** bank-a: active participant, active key. */
  bank: SigningKey;
  /** bank-b's key bank-b-1 is revoked in the directory. */
  revoked: SigningKey;
  /** Not in the directory at all. */
  stranger: SigningKey;
}

export function testKeys(): TestKeys {
  return {
    identity: createSigningKey("clearing", "clearing-1", generateSeed()),
    bank: createSigningKey("bank-a", "bank-a-1", generateSeed()),
    revoked: createSigningKey("bank-b", "bank-b-1", generateSeed()),
    stranger: createSigningKey("bank-z", "bank-z-1", generateSeed()),
  };
}

function participant(id: string, keys: Array<{ key: SigningKey; status: KeyStatus }>, kind = ParticipantKind.BANK): Participant {
  return create(ParticipantSchema, {
    participantId: id,
    name: `Participant ${id}`,
    kind,
    currencies: ["USD", "EUR"],
    status: ParticipantStatus.ACTIVE,
    version: 1n,
    keys: keys.map(({ key, status }) => ({ keyId: key.keyId, publicKey: key.publicKey, status })),
  });
}

export function testDirectory(keys: TestKeys): Directory {
  const directory = new Directory([{ participantId: "clearing", keyId: keys.identity.keyId, publicKey: keys.identity.publicKey }]);
  directory.apply(participant("bank-a", [{ key: keys.bank, status: KeyStatus.ACTIVE }]));
  directory.apply(participant("bank-b", [{ key: keys.revoked, status: KeyStatus.REVOKED }]));
  return directory;
}

/** Counts handler invocations, so tests can prove a rejected call never reached one. */
export class CallLog {
  readonly calls: string[] = [];
  count(method?: string): number {
    return method === undefined ? this.calls.length : this.calls.filter((entry) => entry === method).length;
  }
}

/** Parses "slow-<ms>" transfer ids of the slow method. */
function slowMs(transferId: string): number {
  const match = /^slow-(\d+)/.exec(transferId);
  return match ? Number(match[1]) : 0;
}

/**
 * The fake clearing service. getParticipant answers from the directory and raises the errors
 * tests ask for by id; createTransfer echoes a Transfer (window_id = the verified caller);
 * getTransfer sleeps "slow-<ms>" and ignores its abort signal (a badly behaved handler).
 * Every other method is left out (UNIMPLEMENTED).
 */
export function fakeClearing(directory: Directory, log: CallLog): Partial<ServiceImpl<typeof ClearingService>> {
  return {
    getParticipant(request) {
      log.calls.push("getParticipant");
      if (request.participantId === "fail-precondition") {
        throw rpcError(Code.FailedPrecondition, "SOME_REASON", "msg", { field: "x" });
      }
      if (request.participantId === "explode") throw new Error("secret stuff");
      const found = directory.get(request.participantId);
      if (!found) throw rpcError(Code.NotFound, "UNKNOWN_PARTICIPANT", `no participant ${request.participantId}`);
      return found;
    },
    createTransfer(request, context: HandlerContext) {
      log.calls.push("createTransfer");
      return create(TransferSchema, {
        transferId: request.transferId,
        payerId: request.payerId,
        payeeId: request.payeeId,
        amount: request.amount,
        fee: { currency: request.amount?.currency ?? "", amountMinor: 0n },
        state: TransferState.COMMITTED,
        windowId: callerOf(context).participantId,
        payerReference: request.payerReference,
        payeeReference: request.payeeReference,
        createdAt: timestampFromMs(1_764_460_800_000),
      });
    },
    async getTransfer(request) {
      log.calls.push("getTransfer");
      await sleep(slowMs(request.transferId));
      return create(TransferSchema, { transferId: request.transferId, state: TransferState.COMMITTED });
    },
  };
}

export interface Harness {
  server: RunningServer;
  keys: TestKeys;
  directory: Directory;
  metrics: ServiceMetrics;
  log: CallLog;
  grpcAddress: string;
  httpUrl: string;
  /** Verifies the answering service's response headers against the request nonce and bytes. */
  verifyResponse(getHeader: HeaderGetter, procedure: string, nonce: string, bytes: Uint8Array): boolean;
  close(graceMs?: number): Promise<void>;
}

export interface HarnessOptions extends Partial<Omit<ServerOptions, "identity" | "directory" | "metrics" | "logger" | "registrations" | "files">> {
  files?: readonly DescFile[];
  /** Set health to SERVING after start (default true). */
  serving?: boolean;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const keys = testKeys();
  const directory = testDirectory(keys);
  const metrics = createServiceMetrics("clearing", { defaultMetrics: false });
  const log = new CallLog();
  const { serving = true, files = clearmeshFiles, ...serverOptions } = options;
  const server = await startServer({
    name: "clearing",
    identity: keys.identity,
    directory,
    registrations: [registration(ClearingService, fakeClearing(directory, log))],
    files,
    metrics,
    logger: createLogger({ service: "test", level: "silent" }),
    bindHost: "127.0.0.1",
    grpcPort: 0,
    httpPort: 0,
    maxRequestBytes: 64 * 1024,
    rpcTimeoutMs: 10_000,
    signatureMaxSkewMs: 300_000,
    nonceCacheMaxPerParticipant: 10_000,
    ...serverOptions,
  });
  if (serving) server.health.set(true);
  const scheme = options.tls ? "https" : "http";
  let closed: Promise<void> | undefined;
  return {
    server,
    keys,
    directory,
    metrics,
    log,
    grpcAddress: `127.0.0.1:${server.grpcPort}`,
    httpUrl: `${scheme}://127.0.0.1:${server.httpPort}`,
    verifyResponse: (getHeader, procedure, nonce, bytes) =>
      verifyRpcResponse(getHeader, procedure, nonce, bytes, (participantId, keyId) =>
        participantId === keys.identity.participantId && keyId === keys.identity.keyId ? keys.identity.publicKey : undefined),
    close: (graceMs = 200) => (closed ??= server.close(graceMs)),
  };
}

/**
 * A gRPC client of the fake clearing service, signing as bank-a and verifying responses: the
 * services' own node:http2 client, or grpc-js's with `transport: "grpc-js"`.
 */
export function grpcClient(harness: Harness, options: { signer?: SigningKey; tls?: ClientTls; address?: string; transport?: "http2" | "grpc-js" } = {}): SignedClient<typeof ClearingService> {
  return createSignedClient(ClearingService, {
    transport: options.transport,
    address: options.address ?? harness.grpcAddress,
    signer: options.signer ?? harness.keys.bank,
    responseKeys: (participantId, keyId) =>
      participantId === "clearing" && keyId === harness.keys.identity.keyId ? harness.keys.identity.publicKey : undefined,
    expectedResponder: "clearing",
    tls: options.tls,
    defaultDeadlineMs: 10_000,
  });
}

/** What a signing interceptor saw of the last call it signed. */
export interface SignedCallRecord {
  procedure: string;
  nonce: string;
  requestBytes: Uint8Array;
}

/**
 * A connect-es client interceptor that signs the binary encoding of each unary request (the
 * exact bytes the binary Connect and gRPC-Web codecs send) as `key`.
 */
export function signingInterceptor(key: SigningKey, record?: SignedCallRecord[]): Interceptor {
  return (next) => async (request) => {
    if (!request.stream) {
      const procedure = `/${request.method.parent.typeName}/${request.method.name}`;
      const requestBytes = toBinary(request.method.input, request.message);
      const headers = signRpcRequest(key, procedure, requestBytes);
      for (const [name, value] of Object.entries(headers)) request.header.set(name, value);
      record?.push({ procedure, nonce: headers[HEADER_NONCE]!, requestBytes });
    }
    return next(request);
  };
}

/** The message payload of a gRPC / gRPC-Web frame. */
export function frame(payload: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/** Splits a gRPC-Web response body into its frames. */
export function parseFrames(body: Uint8Array): Array<{ flags: number; payload: Uint8Array }> {
  const frames: Array<{ flags: number; payload: Uint8Array }> = [];
  let offset = 0;
  while (offset + 5 <= body.length) {
    const length = new DataView(body.buffer, body.byteOffset + offset + 1, 4).getUint32(0);
    frames.push({ flags: body[offset]!, payload: body.subarray(offset + 5, offset + 5 + length) });
    offset += 5 + length;
  }
  return frames;
}

/**
 * Wire bytes of an unknown field (number 99, length-delimited) followed by `known`: what a
 * client built from a newer schema could send. protobuf-es re-encodes unknown fields at the
 * end, so a server verifying a re-encoding instead of the received bytes would fail.
 */
export function withPrependedUnknownField(known: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode("from-a-newer-schema");
  const tag = [0x9a, 0x06]; // (99 << 3) | 2 as a varint
  return new Uint8Array([...tag, text.length, ...text, ...known]);
}

/** A header getter over a fetch Response's headers. */
export function fetchHeaders(response: Response): HeaderGetter {
  return (name) => response.headers.get(name) ?? undefined;
}

/** Extracts the ConnectError code name of anything thrown (undefined for other errors). */
export function connectCode(error: unknown): Code | undefined {
  return error instanceof ConnectError ? error.code : undefined;
}

/** Awaits a promise expected to reject and returns the rejection. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

// ---- TLS ------------------------------------------------------------------------------------

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate from another CA, which the server must refuse. */
  strangerCert: string;
  strangerKey: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "1", "-subj", `/CN=clearmesh test ${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
}

async function makeLeaf(dir: string, ca: string, name: string, extensions: string): Promise<void> {
  fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
  await openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
  await openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`,
    "-set_serial", String(Date.now() + Math.floor(Math.random() * 1000)), "-days", "1", "-out", `${name}.crt`, "-extfile", `${name}.ext`);
}

/** A throwaway CA with a server certificate (127.0.0.1, localhost), a client certificate, and a stranger from another CA. */
export async function makePki(): Promise<Pki> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-tls-"));
  await Promise.all([makeCa(dir, "ca"), makeCa(dir, "other-ca")]);
  await Promise.all([
    makeLeaf(dir, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
    makeLeaf(dir, "ca", "client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
    makeLeaf(dir, "other-ca", "stranger", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"),
  ]);
  const file = (name: string) => path.join(dir, name);
  return {
    dir, caCert: file("ca.crt"), serverCert: file("server.crt"), serverKey: file("server.key"),
    clientCert: file("client.crt"), clientKey: file("client.key"), strangerCert: file("stranger.crt"), strangerKey: file("stranger.key"),
  };
}

// Procedures of the clearmesh contracts: resolving `/pkg.Service/Method` to its method
// descriptor, JSON <-> protobuf binary for its messages, and which service answers it.
import {
  createRegistry, fromJson, fromBinary, toBinary, toJson,
  type DescMessage, type DescMethodUnary, type DescService, type JsonValue, type MessageShape,
} from "@bufbuild/protobuf";
import { clearmeshFiles } from "@clearmesh/contracts";
import { CliError, UsageError } from "./errors.js";

export const contractsRegistry = createRegistry(...clearmeshFiles);

/** The service identity answering each contract package's services (PROTOCOL.md §4). */
export const RESPONDER_BY_DOMAIN: Readonly<Record<string, string>> = {
  clearing: "clearing",
  bank: "bank-adapter",
  wallet: "wallet",
  commerce: "e-commerce-connector",
  notify: "notifier",
};

export interface ResolvedProcedure {
  /** Canonical form, `/clearmesh.clearing.v1.ClearingService/CreateTransfer`. */
  procedure: string;
  service: DescService;
  method: DescMethodUnary;
}

export function clearmeshServices(): DescService[] {
  return clearmeshFiles.flatMap((file) => file.services);
}

const SPELLING = "spell a procedure /<package>.<Service>/<Method> (the leading slash is optional), e.g. /clearmesh.clearing.v1.ClearingService/CreateTransfer";

function unknownService(name: string): UsageError {
  const services = clearmeshServices().map((service) => `  ${service.typeName}`).join("\n");
  return new UsageError(`unknown service "${name}": ${SPELLING}.\nServices:\n${services}`);
}

function unknownMethod(service: DescService, name: string): UsageError {
  const close = service.methods.find((method) => method.name.toLowerCase() === name.toLowerCase());
  const methods = service.methods.map((method) => `  /${service.typeName}/${method.name}`).join("\n");
  const hint = close ? ` (did you mean ${close.name}?)` : "";
  return new UsageError(`unknown method "${name}" of ${service.typeName}${hint}: ${SPELLING}.\nMethods of ${service.typeName}:\n${methods}`);
}

/** Resolves `/pkg.Service/Method`, `pkg.Service/Method` or `pkg.Service.Method`; unknown names are usage errors. */
export function resolveProcedure(text: string): ResolvedProcedure {
  const trimmed = text.trim().replace(/^\//, "");
  const slash = trimmed.lastIndexOf("/");
  const split = slash >= 0 ? slash : trimmed.lastIndexOf(".");
  if (split <= 0 || split === trimmed.length - 1) throw new UsageError(`"${text}" is not a procedure: ${SPELLING}`);
  const serviceName = trimmed.slice(0, split);
  const methodName = trimmed.slice(split + 1);
  const service = contractsRegistry.getService(serviceName);
  if (!service) throw unknownService(serviceName);
  const method = service.methods.find((candidate) => candidate.name === methodName);
  if (!method) throw unknownMethod(service, methodName);
  if (method.methodKind !== "unary") throw new UsageError(`${service.typeName}/${method.name} is a ${method.methodKind} method; only unary methods can be signed or called here`);
  return { procedure: `/${service.typeName}/${method.name}`, service, method: method as DescMethodUnary };
}

/** The participant that answers calls of a service: its owning service identity. */
export function responderOf(service: DescService): string {
  const domain = /^clearmesh\.([a-z]+)\.v\d+\.[^.]+$/.exec(service.typeName)?.[1];
  const responder = domain === undefined ? undefined : RESPONDER_BY_DOMAIN[domain];
  if (!responder) throw new UsageError(`no service identity is known for ${service.typeName}; pass --responder`);
  return responder;
}

/** Parses the request JSON (proto3 JSON, field names as in JSON or proto) into the method's input message. */
export function requestFromJson<I extends DescMessage>(input: I, text: string): { message: MessageShape<I>; bytes: Uint8Array } {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new CliError(`the request is not JSON: ${(error as Error).message}`);
  }
  let message: MessageShape<I>;
  try {
    message = fromJson(input, json, { registry: contractsRegistry });
  } catch (error) {
    throw new CliError(`the request does not fit ${input.typeName}: ${(error as Error).message}`);
  }
  return { message, bytes: toBinary(input, message) };
}

/** Proto3 JSON (bytes as base64, 64-bit integers as strings, enums by name), pretty-printed. */
export function messageToJsonText<M extends DescMessage>(schema: M, message: MessageShape<M>): string {
  return JSON.stringify(toJson(schema, message, { registry: contractsRegistry }), null, 2);
}

export function binaryToJsonText(schema: DescMessage, bytes: Uint8Array): string {
  return messageToJsonText(schema, fromBinary(schema, bytes));
}

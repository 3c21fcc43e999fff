// Server reflection (grpc.reflection.v1 and v1alpha): through `buf curl` against a real port,
// over a raw grpc-js stream, and the index directly.
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  ClearingService, GetParticipantRequestSchema, clearmeshFiles, healthV1, reflectionV1, reflectionV1alpha,
} from "@clearmesh/contracts";
import { signRpcRequest } from "@clearmesh/trust";
import { ReflectionIndex } from "../src/reflection.js";
import { GET_PARTICIPANT, startHarness, type Harness } from "./fixtures.js";

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const buf = path.join(repoRoot, "node_modules/.bin/buf");

let harness: Harness;
let base: string;

beforeAll(async () => {
  harness = await startHarness();
  base = `http://127.0.0.1:${harness.server.grpcPort}`;
});

afterAll(async () => {
  await harness?.close();
});

async function bufCurl(...args: string[]): Promise<string> {
  const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { cwd: repoRoot, timeout: 20_000 });
  return stdout;
}

describe("buf curl against the gRPC port", () => {
  it("lists every service through reflection (v1, and v1alpha when asked)", async () => {
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const services = (await bufCurl("--reflect-protocol", protocol, "--list-services", base)).trim().split("\n").sort();
      expect(services).toEqual([
        ClearingService.typeName,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ].sort());
    }
  });

  it("lists the clearing service's methods", async () => {
    const methods = (await bufCurl("--list-methods", base)).trim().split("\n");
    for (const method of ClearingService.methods) {
      expect(methods).toContain(`${ClearingService.typeName}/${method.name}`);
    }
  });

  it("calls grpc.health.v1.Health/Check and gets SERVING", async () => {
    const output = await bufCurl(`${base}/grpc.health.v1.Health/Check`, "-d", "{}");
    expect(JSON.parse(output)).toEqual({ status: "SERVING" });
  });

  it("makes a signed call whose bytes were encoded by buf (Go), not by this process", async () => {
    const bytes = toBinary(GetParticipantRequestSchema, create(GetParticipantRequestSchema, { participantId: "bank-a" }));
    const headers = signRpcRequest(harness.keys.bank, GET_PARTICIPANT, bytes);
    const headerArgs = Object.entries(headers).flatMap(([name, value]) => ["-H", `${name}: ${value}`]);
    const output = await bufCurl(...headerArgs, `${base}${GET_PARTICIPANT}`, "-d", `{"participantId":"bank-a"}`);
    expect(JSON.parse(output)).toMatchObject({ participantId: "bank-a", status: "PARTICIPANT_STATUS_ACTIVE" });
  });
});

describe("reflection over a raw grpc-js stream", () => {
  async function reflect<I extends DescMessage, O extends DescMessage>(procedure: string, input: I, output: O, requests: unknown[]) {
    const client = new grpc.Client(`127.0.0.1:${harness.server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest<Uint8Array, Buffer>(procedure, (message) => Buffer.from(message), (buffer) => buffer, new grpc.Metadata(), {});
      const responses: Array<ReturnType<typeof fromBinary<O>>> = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on("data", (buffer: Buffer) => responses.push(fromBinary(output, buffer)));
        call.on("end", () => resolve());
        call.on("error", reject);
      });
      for (const request of requests) call.write(toBinary(input, create(input, request as never)));
      call.end();
      await done;
      return responses;
    } finally {
      client.close();
    }
  }

  it("v1alpha answers list_services and file_containing_symbol", async () => {
    const responses = await reflect("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      reflectionV1alpha.ServerReflectionRequestSchema, reflectionV1alpha.ServerReflectionResponseSchema, [
        { host: "h", messageRequest: { case: "listServices", value: "*" } },
        { messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.Health" } },
      ]);
    expect(responses).toHaveLength(2);
    const list = responses[0]!.messageResponse;
    expect(list.case).toBe("listServicesResponse");
    expect(list.case === "listServicesResponse" && list.value.service.map((entry) => entry.name)).toContain("grpc.reflection.v1alpha.ServerReflection");
    expect(responses[0]!.validHost).toBe("h");
    const file = responses[1]!.messageResponse;
    expect(file.case).toBe("fileDescriptorResponse");
    const names = file.case === "fileDescriptorResponse" ? file.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name) : [];
    expect(names).toEqual(["grpc/health/v1/health.proto"]);
  });
});

describe("the reflection index", () => {
  const index = new ReflectionIndex([...clearmeshFiles, healthV1.file_grpc_health_v1_health], [ClearingService.typeName, "grpc.health.v1.Health"]);
  const ask = (messageRequest: reflectionV1.ServerReflectionRequest["messageRequest"]) =>
    index.answer(create(reflectionV1.ServerReflectionRequestSchema, { messageRequest }));
  const fileNames = (response: ReturnType<typeof ask>) =>
    response.case === "fileDescriptorResponse" ? response.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name) : undefined;

  it("answers file_by_filename with the file first, then its dependencies, each once", () => {
    const names = fileNames(ask({ case: "fileByFilename", value: "clearmesh/clearing/v1/clearing.proto" }));
    expect(names?.[0]).toBe("clearmesh/clearing/v1/clearing.proto");
    expect(names).toContain("clearmesh/common/v1/common.proto");
    expect(names).toContain("google/protobuf/timestamp.proto");
    expect(new Set(names).size).toBe(names?.length);
  });

  it("answers file_by_filename for a dependency that was not listed itself", () => {
    expect(fileNames(ask({ case: "fileByFilename", value: "google/protobuf/timestamp.proto" }))).toEqual(["google/protobuf/timestamp.proto"]);
  });

  it("answers file_containing_symbol for a service, a message and a method", () => {
    for (const symbol of [ClearingService.typeName, "clearmesh.clearing.v1.Transfer", `${ClearingService.typeName}.CreateTransfer`]) {
      expect(fileNames(ask({ case: "fileContainingSymbol", value: symbol }))?.[0], symbol).toBe("clearmesh/clearing/v1/clearing.proto");
    }
  });

  it("answers an unknown symbol or file with an error response (NOT_FOUND)", () => {
    for (const response of [
      ask({ case: "fileContainingSymbol", value: "clearmesh.nope.v1.Nothing" }),
      ask({ case: "fileContainingSymbol", value: "clearmesh.clearing.v1.ClearingService.NoSuchMethod.Deeper" }),
      ask({ case: "fileByFilename", value: "nope.proto" }),
    ]) {
      expect(response.case).toBe("errorResponse");
      expect(response.case === "errorResponse" && response.value.errorCode).toBe(5);
    }
  });

  it("answers list_services with the names it was given", () => {
    const response = ask({ case: "listServices", value: "" });
    expect(response.case === "listServicesResponse" && response.value.service.map((entry) => entry.name)).toEqual([ClearingService.typeName, "grpc.health.v1.Health"]);
  });
});

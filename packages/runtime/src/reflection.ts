// gRPC server reflection (grpc.reflection.v1 and v1alpha) over the generated file descriptors,
// so grpcurl and `buf curl` work against any clearmesh port with no .proto files.
import { createRegistry, toBinary, type DescFile, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { reflectionV1, reflectionV1alpha } from "@clearmesh/contracts";

type Request = reflectionV1.ServerReflectionRequest;
type Response = Omit<reflectionV1.ServerReflectionResponse, "$typeName" | "originalRequest"> & { originalRequest?: Request };
type MessageResponse = Response["messageResponse"];

const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

export class ReflectionIndex {
  private readonly registry: Registry;
  private readonly filesByName = new Map<string, DescFile>();

  constructor(files: readonly DescFile[], private readonly serviceNames: readonly string[]) {
    this.registry = createRegistry(...files);
    const index = (file: DescFile) => {
      if (this.filesByName.has(file.name + ".proto")) return;
      this.filesByName.set(file.name + ".proto", file);
      file.dependencies.forEach(index);
    };
    files.forEach(index);
  }

  answer(request: Request): MessageResponse {
    const message = request.messageRequest;
    switch (message.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: this.serviceNames.map((name) => ({ name })) } as never };
      case "fileByFilename":
        return this.filesResponse(this.filesByName.get(message.value), `file ${message.value}`);
      case "fileContainingSymbol":
        return this.filesResponse(this.fileOfSymbol(message.value), `symbol ${message.value}`);
      case "allExtensionNumbersOfType": {
        const type = this.registry.getMessage(message.value);
        if (!type) return errorResponse(NOT_FOUND, `type ${message.value} not found`);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: message.value, extensionNumber: [] } as never };
      }
      case "fileContainingExtension":
        return errorResponse(NOT_FOUND, "no extensions are defined");
      default:
        return errorResponse(UNIMPLEMENTED, "unsupported reflection request");
    }
  }

  private fileOfSymbol(symbol: string): DescFile | undefined {
    const direct = this.registry.get(symbol);
    if (direct) return direct.file;
    // A method or field name: its parent's file.
    const parent = this.registry.get(symbol.slice(0, symbol.lastIndexOf(".")));
    return parent?.file;
  }

  /** The file and every file it depends on, transitively, each once. */
  private filesResponse(file: DescFile | undefined, what: string): MessageResponse {
    if (!file) return errorResponse(NOT_FOUND, `${what} not found`);
    const ordered: DescFile[] = [];
    const seen = new Set<string>();
    const visit = (current: DescFile) => {
      if (seen.has(current.name)) return;
      seen.add(current.name);
      ordered.push(current);
      current.dependencies.forEach(visit);
    };
    visit(file);
    const fileDescriptorProto = ordered.map((entry) => toBinary(FileDescriptorProtoSchema, entry.proto));
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } as never };
  }
}

function errorResponse(errorCode: number, errorMessage: string): MessageResponse {
  return { case: "errorResponse", value: { errorCode, errorMessage } as never };
}

function reflectionImpl(index: ReflectionIndex) {
  return {
    async *serverReflectionInfo(requests: AsyncIterable<Request>) {
      for await (const request of requests) {
        yield { validHost: request.host, originalRequest: request, messageResponse: index.answer(request) };
      }
    },
  };
}

export function reflectionV1Impl(index: ReflectionIndex): ServiceImpl<typeof reflectionV1.ServerReflection> {
  return reflectionImpl(index) as unknown as ServiceImpl<typeof reflectionV1.ServerReflection>;
}

/** v1alpha has the same messages under another package name; the shapes are identical. */
export function reflectionV1alphaImpl(index: ReflectionIndex): ServiceImpl<typeof reflectionV1alpha.ServerReflection> {
  return reflectionImpl(index) as unknown as ServiceImpl<typeof reflectionV1alpha.ServerReflection>;
}

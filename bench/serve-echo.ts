// B0's server: a bare grpc-js unary server on a free port, its own process. It answers every
// call at `procedure` with the same bytes and response headers (a real B1 answer, captured once
// by the harness, cm-* signature headers included): the same bytes on the wire as B1, with none
// of the work. Prints {"grpcPort": …} on stdout; answers the harness's stats requests over IPC
// (bench/server-child.ts).
//
//   node --import tsx bench/serve-echo.ts '{"procedure": "/pkg.Service/Method", "responseHex": "0a…", "headers": {"cm-…": "…"}}'
import * as grpc from "@grpc/grpc-js";
import { serveHarness } from "./server-child.js";

interface EchoConfig {
  procedure: string;
  responseHex: string;
  headers: Record<string, string>;
}

const config = JSON.parse(process.argv[2] ?? "{}") as EchoConfig;
const response = Buffer.from(config.responseHex, "hex");
const responseHeaders = new grpc.Metadata();
for (const [name, value] of Object.entries(config.headers)) responseHeaders.set(name, value);

const identity = <T>(value: T): T => value;
const [, serviceName, methodName] = config.procedure.split("/");
const definition: grpc.ServiceDefinition = {
  [methodName!]: {
    path: config.procedure,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  } as grpc.MethodDefinition<unknown, unknown>,
};

const server = new grpc.Server({ "grpc.keepalive_permit_without_calls": 1 });
server.addService(definition, {
  [methodName!]: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    call.sendMetadata(responseHeaders.clone());
    callback(null, response);
  },
});
const port = await new Promise<number>((resolve, reject) => {
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
});

serveHarness({
  stop: () => new Promise<void>((resolve) => {
    const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 2_000);
    server.tryShutdown(() => { clearTimeout(timer); resolve(); });
  }),
});
process.stdout.write(`${JSON.stringify({ grpcPort: port, service: serviceName })}\n`);

// Run by h2-client.test.ts in its own process: one call, the answer printed, the client never
// closed. The process must stay alive while the call is in flight and exit once it is idle.
import { http2Transport } from "../src/h2-client.js";

const transport = http2Transport(process.argv[2]!);
const result = await transport.unary("/test.v1.Echo/Echo", Uint8Array.of(1), {}, 10_000);
process.stdout.write(`answer ${[...result.bytes].join(",")}\n`);

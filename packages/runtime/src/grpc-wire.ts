// gRPC over HTTP/2's wire details, shared by the server (h2-server.ts) and the client
// (h2-client.ts): the length-prefixed message, `grpc-timeout`, and `grpc-message`'s encoding.

/** One uncompressed message with its 5-byte prefix (flag 0, big-endian length). */
export function frameMessage(message: Uint8Array): Buffer {
  const bytes = Buffer.allocUnsafe(5 + message.byteLength);
  bytes[0] = 0;
  bytes.writeUInt32BE(message.byteLength, 1);
  bytes.set(message, 5);
  return bytes;
}

/** The `grpc-timeout` value for a deadline in ms: at most 8 digits, in the finest unit that fits. */
export function grpcTimeout(deadlineMs: number): string {
  const ms = Math.max(0, Math.ceil(deadlineMs));
  if (ms < 1e8) return `${ms}m`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 1e8) return `${seconds}S`;
  return `${Math.min(99_999_999, Math.ceil(seconds / 3600))}H`;
}

const TIMEOUT_PATTERN = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/** A `grpc-timeout` value in ms, or undefined when it is not 1 to 8 digits and a unit. */
export function parseGrpcTimeout(value: string | string[]): number | undefined {
  const match = typeof value === "string" ? TIMEOUT_PATTERN.exec(value) : null;
  return match ? Number(match[1]) * TIMEOUT_UNIT_MS[match[2]!]! : undefined;
}

/** `grpc-message`'s percent-encoding: UTF-8, with every byte outside 0x20–0x7E and '%' escaped. */
export function encodeGrpcMessage(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let encoded = "";
  for (const byte of Buffer.from(message, "utf8")) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return encoded;
}

/** A received `grpc-message`, percent-decoded (kept as it came when it is not valid encoding). */
export function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(",") : raw ?? "";
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

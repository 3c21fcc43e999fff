// What both ports' servers share: reading the TLS files, and the graceful close.
import fs from "node:fs";
import type http from "node:http";
import type http2 from "node:http2";
import type { Server, Socket } from "node:net";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCaFile?: string;
}

/** A server's certificate and key, and the CA its clients' certificates must chain to (mutual TLS). */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
}

export function readTlsFiles(files: TlsFiles): ServerTls {
  return {
    cert: fs.readFileSync(files.certFile),
    key: fs.readFileSync(files.keyFile),
    clientCa: files.clientCaFile ? fs.readFileSync(files.clientCaFile) : undefined,
  };
}

/** node:tls options for a server with these files: mutual TLS when there is a client CA. */
export function secureServerOptions(tls: ServerTls): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean } {
  return { cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) };
}

/**
 * Tracks a server's connections from now on and returns its graceful close: stop accepting, end
 * each connection once its calls are done (HTTP/2 sessions get a GOAWAY and close after their
 * open streams; keep-alive HTTP/1.1 sockets close as they turn idle), and destroy whatever is left
 * when the grace runs out. Raw sockets are tracked too: a connection that never became a session
 * (a TLS handshake left hanging, a client that sends no preface) would otherwise hold the close.
 */
export function gracefulClose(server: Server): (graceMs: number) => Promise<void> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<Socket>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const idle = "closeIdleConnections" in server ? () => (server as http.Server).closeIdleConnections() : undefined;
  return (graceMs) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    }, graceMs);
    const sweep = idle ? setInterval(idle, 20) : undefined;
    server.close(() => {
      clearTimeout(timer);
      clearInterval(sweep);
      resolve();
    });
    for (const session of sessions) if (!session.closed) session.close();
    idle?.();
  });
}

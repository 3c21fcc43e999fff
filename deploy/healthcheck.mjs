// Container health check (Dockerfile HEALTHCHECK, docker-compose.yml healthcheck), plain Node:
//
//   node deploy/healthcheck.mjs [<http-port>] [--alive] [--tcp <port>]…
//
// <http-port>   GET /healthz there (default HTTP_PORT, else the service's default port); healthy
//               on 200, i.e. the service is serving (a clearing standby answers 503).
// --alive       any answer from /healthz counts (200 or 503): the process is up and listening.
//               For the clearing pair, where only the active instance serves.
// --tcp <port>  a TCP connection to 127.0.0.1:<port> must open (the local mail and SMS sinks).
//
// When TLS_CERT_FILE is set the port speaks TLS: the check presents TLS_CERT_FILE/TLS_KEY_FILE as
// client certificate (mutual TLS) and does not verify the server's own certificate, because it
// only asks its own process on 127.0.0.1 whether it is up. Exits 0 when healthy, 1 otherwise.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";

const DEFAULT_HTTP_PORTS = { clearing: 8051, "bank-adapter": 8052, wallet: 8053, "e-commerce-connector": 8054, notifier: 8055 };
const TIMEOUT_MS = 3_000;

function parseArguments(argv, environment) {
  const options = { httpPort: undefined, alive: false, tcpPorts: [] };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index];
    if (argument === "--alive") options.alive = true;
    else if (argument === "--tcp") options.tcpPorts.push(Number(argv[++index]));
    else options.httpPort = Number(argument);
  }
  if (options.httpPort === undefined && options.tcpPorts.length === 0) {
    options.httpPort = Number(environment.HTTP_PORT || DEFAULT_HTTP_PORTS[environment.SERVICE] || NaN);
  }
  for (const port of [options.httpPort, ...options.tcpPorts]) {
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new Error(`not a port: ${port}`);
  }
  return options;
}

function checkHttp(port, alive, environment) {
  const tls = Boolean(environment.TLS_CERT_FILE);
  const request = (tls ? https : http).get({
    host: "127.0.0.1", port, path: "/healthz", timeout: TIMEOUT_MS,
    ...(tls ? {
      rejectUnauthorized: false,
      cert: fs.readFileSync(environment.TLS_CERT_FILE),
      ...(environment.TLS_KEY_FILE ? { key: fs.readFileSync(environment.TLS_KEY_FILE) } : {}),
    } : {}),
  });
  return new Promise((resolve) => {
    request.once("response", (response) => {
      response.resume();
      resolve(response.statusCode === 200 || (alive && response.statusCode === 503));
    });
    request.once("timeout", () => request.destroy(new Error("timeout")));
    request.once("error", () => resolve(false));
  });
}

function checkTcp(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port, timeout: TIMEOUT_MS });
    socket.once("connect", () => { socket.destroy(); resolve(true); });
    socket.once("timeout", () => { socket.destroy(); resolve(false); });
    socket.once("error", () => resolve(false));
  });
}

try {
  const options = parseArguments(process.argv.slice(2), process.env);
  const checks = [
    ...(options.httpPort === undefined ? [] : [checkHttp(options.httpPort, options.alive, process.env)]),
    ...options.tcpPorts.map(checkTcp),
  ];
  process.exit((await Promise.all(checks)).every(Boolean) ? 0 : 1);
} catch (error) {
  process.stderr.write(`healthcheck: ${error.message}\n`);
  process.exit(1);
}

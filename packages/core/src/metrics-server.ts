import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';
import type { RedisHealth } from './redis-health.js';

export interface MetricsServerOptions {
  registry: Registry;
  port: number;
  host: string;
  /** Every request must send `Authorization: Bearer <token>` (the scheme in any case). */
  token: string;
  logger: Logger;
  /** The process's Redis connections: GET /readyz is 503 while they are not all ready. */
  redisHealth?: RedisHealth;
  /** Fields added to the JSON of GET /readyz, such as the scheduler's `leader`. */
  status?: () => Record<string, boolean | number | string>;
}

/** A listening metrics server; `close()` stops it (scrapes in flight finish first). */
export interface MetricsServer {
  /** The port it listens on (the one asked for, or the OS's pick for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` of `registry` on a port of its own, behind a Bearer token: the worker and
 * the scheduler have no HTTP server otherwise, and a framework for one route would cost more
 * start-up time and memory than it saves. The probes `GET /healthz` (the process answers) and
 * `GET /readyz` (200, or 503 with a reason) need no token, as the web's do: a kubelet cannot send one
 * from a Secret, and they tell nothing but whether the process can work.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, logger } = options;
  const expected = Buffer.from(options.token);
  const server: Server = createServer((request, response) => {
    const path = request.url?.split('?')[0];
    const readable = request.method === 'GET' || request.method === 'HEAD';
    if (readable && (path === '/healthz' || path === '/readyz')) {
      const reason = path === '/readyz' && options.redisHealth?.up === false ? 'redis is not connected' : undefined;
      const extra = path === '/readyz' ? options.status?.() : undefined;
      const body = reason === undefined ? { status: 'ok', ...extra } : { status: 'unavailable', reason, ...extra };
      response.writeHead(reason === undefined ? 200 : 503, { 'content-type': 'application/json' }).end(request.method === 'HEAD' ? undefined : JSON.stringify(body));
      return;
    }
    if (path !== '/metrics' || !readable) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics, /healthz or /readyz\n');
      return;
    }
    if (!authorized(request, expected)) {
      response.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('send Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : body),
      (error: unknown) => {
        logger.error({ err: error }, 'collecting metrics failed');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
      },
    );
  });
  // A scraper keeps connections alive; without this, close() would wait for it to hang up.
  server.keepAliveTimeout = 5_000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, host: options.host }, 'serving metrics on /metrics');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

const SCHEME = 'bearer ';

function authorized(request: IncomingMessage, expected: Buffer): boolean {
  const header = request.headers.authorization ?? '';
  // The scheme is case-insensitive (RFC 7235 §2.1); the token is compared exactly, in constant time.
  if (header.slice(0, SCHEME.length).toLowerCase() !== SCHEME) return false;
  const given = Buffer.from(header.slice(SCHEME.length));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { createMetricsRegistry, createRunMetrics } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { RedisHealth } from './redis-health.js';

const TOKEN = 'metrics-token-0123456789';
let server: MetricsServer;
let url: string;

beforeAll(async () => {
  const registry = createMetricsRegistry('worker');
  createRunMetrics(registry).of('ping').completed += 2;
  server = await startMetricsServer({ registry, port: 0, host: '127.0.0.1', token: TOKEN, logger: createLogger({ app: 'test', level: 'silent' }), status: () => ({ leader: true }) });
  url = `http://127.0.0.1:${server.port}/metrics`;
});
afterAll(() => server?.close());

describe('startMetricsServer', () => {
  it('answers 401 without the token, and with a wrong one', async () => {
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
  });

  it('serves the registry in the Prometheus text format to a caller with the token', async () => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const body = await response.text();
    expect(body).toContain('drumline_runs_total{job="ping",outcome="completed",app="worker"} 2');
    expect(body).toContain('process_cpu_seconds_total');
  });

  it.each(['bearer', 'BEARER', 'bEaReR'])('takes the token under the scheme spelt %s (schemes are case-insensitive)', async (scheme) => {
    expect((await fetch(url, { headers: { authorization: `${scheme} ${TOKEN}` } })).status).toBe(200);
  });

  it.each([
    ['the token in another case', `Bearer ${TOKEN.toUpperCase()}`],
    ['another scheme', `Basic ${TOKEN}`],
    ['no space after the scheme', `Bearer${TOKEN}`],
    ['the scheme alone', 'Bearer '],
  ])('answers 401 to %s', async (_what, authorization) => {
    expect((await fetch(url, { headers: { authorization } })).status).toBe(401);
  });

  it('answers the probes /healthz and /readyz without the token, with the status fields it is given', async () => {
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', leader: true });
  });

  it('answers /readyz 503 with the reason while the process cannot work, and /healthz 200 all the same', async () => {
    const registry = createMetricsRegistry('scheduler');
    const logger = createLogger({ app: 'test', level: 'silent' });
    // A connection that has not reached Redis yet (lazyConnect: it never tries).
    const never = new Redis('redis://127.0.0.1:1', { lazyConnect: true });
    const unreachable = new RedisHealth({ logger });
    unreachable.track(never);
    const unready = await startMetricsServer({
      registry,
      port: 0,
      host: '127.0.0.1',
      token: TOKEN,
      logger,
      redisHealth: unreachable,
      status: () => ({ leader: false }),
    });
    try {
      const ready = await fetch(`http://127.0.0.1:${unready.port}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'redis is not connected', leader: false });
      expect((await fetch(`http://127.0.0.1:${unready.port}/healthz`)).status).toBe(200);
    } finally {
      await unready.close();
      never.disconnect();
    }
  });

  it('answers 404 for any other path', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });
});

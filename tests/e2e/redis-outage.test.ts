import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample, scrape } from '../support/metrics.js';
import { freePort, startApp, stopApps, type AppProcess, type LogRecord } from '../support/processes.js';
import { OwnRedisServer } from '../support/redis-server.js';

// A Redis outage of a few seconds under load, as a restart of Redis gives: every app rides it out
// and says so once, not once per connection and retry; and each app's drumline_redis_up shows it.

const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const METRICS_TOKEN = `metrics-${randomBytes(16).toString('hex')}`;
const OUTAGE_MS = 3000; // the scenario: how long Redis stays down, not a wait for anything
const WARN = 40;
let redis: OwnRedisServer;
let web: AppProcess;
let worker: AppProcess;
let scheduler: AppProcess;
let baseUrl = '';
const metricsUrls = new Map<AppProcess, string>();

async function enqueuePing(sleepMs: number): Promise<{ status: number; id?: string }> {
  const response = await fetch(`${baseUrl}/api/jobs/ping`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ data: { sleepMs } }),
    signal: AbortSignal.timeout(2000),
  }).catch(() => undefined);
  if (!response) return { status: 0 };
  const body = (await response.json()) as { id?: string };
  return { status: response.status, ...(body.id ? { id: body.id } : {}) };
}

async function redisUp(app: AppProcess): Promise<number | undefined> {
  const url = metricsUrls.get(app) ?? '';
  const body = await scrape(url, METRICS_TOKEN);
  return sample(body, 'drumline_redis_up');
}

/** Log records of `app` at warn or above. */
const warnings = (app: AppProcess) => app.logs().filter((log) => (log.level ?? 0) >= WARN);
const isOutageStart = (log: LogRecord) => log.msg === 'redis unreachable; retrying';
const isRecovery = (log: LogRecord) => log.msg === 'redis reachable again';

beforeAll(async () => {
  redis = await OwnRedisServer.start();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const common = { REDIS_URL: redis.url, KEY_PREFIX: 'outage', LOG_LEVEL: 'info', RELEASE: 'e2e', METRICS_TOKEN, METRICS_HOST: '127.0.0.1' };
  const workerMetrics = await freePort();
  const schedulerMetrics = await freePort();
  worker = startApp('worker', { env: { ...common, METRICS_PORT: String(workerMetrics) } });
  scheduler = startApp('scheduler', { env: { ...common, METRICS_PORT: String(schedulerMetrics), LEASE_TTL_MS: '3000' } });
  web = startApp('web', {
    env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'e2e-admin', DASHBOARD_PASSWORD: 'e2e-password-long-enough' },
  });
  metricsUrls.set(web, `${baseUrl}/metrics`);
  metricsUrls.set(worker, `http://127.0.0.1:${workerMetrics}/metrics`);
  metricsUrls.set(scheduler, `http://127.0.0.1:${schedulerMetrics}/metrics`);
  await web.waitForHttp(`${baseUrl}/readyz`, 60_000);
  await worker.waitForLog((log) => log.msg === 'worker ready', 60_000);
  await scheduler.waitForLog((log) => log.msg === 'materializing schedules', 60_000);
});

afterAll(async () => {
  await stopApps([web, worker, scheduler]);
  await redis?.destroy();
});

describe('a Redis restart under load', () => {
  it('is logged by each app as one warning when it starts and one line when Redis is back, with drumline_redis_up going 0 then 1, and no unhandled error event', async () => {
    const apps = [web, worker, scheduler];
    for (const app of apps) expect(await redisUp(app), app.name).toBe(1);

    // Load: runs enqueued all through the outage (refused or slow while Redis is down).
    let loading = true;
    const load = (async () => {
      while (loading) await enqueuePing(20);
    })();
    await expect.poll(async () => (await enqueuePing(0)).status).toBe(202);

    const before = new Map(apps.map((app) => [app, app.lines.length]));
    await redis.stop();
    for (const app of apps) {
      await app.waitForLog(isOutageStart, 20_000);
      await expect.poll(() => redisUp(app), { timeout: 20_000, message: app.name }).toBe(0);
    }
    await sleep(OUTAGE_MS);
    await redis.restart();
    for (const app of apps) {
      await app.waitForLog(isRecovery, 30_000);
      await expect.poll(() => redisUp(app), { timeout: 20_000, message: app.name }).toBe(1);
    }
    loading = false;
    await load;

    // Back to work: a run enqueued now completes.
    const { status, id } = await enqueuePing(0);
    expect(status).toBe(202);
    await expect
      .poll(
        async () => {
          const response = await fetch(`${baseUrl}/api/jobs/ping/runs/${id ?? ''}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
          return ((await response.json()) as { state?: string }).state;
        },
        { timeout: 20_000 },
      )
      .toBe('completed');

    for (const app of apps) {
      const output = app.output();
      expect(output, app.name).not.toMatch(/Unhandled error event/);
      expect(app.logs().filter(isOutageStart), app.name).toHaveLength(1);
      expect(app.logs().filter(isRecovery), app.name).toHaveLength(1);
      // Nothing else about the outage: no per-connection, per-retry error lines.
      const during = app.lines.slice(before.get(app));
      const connectionErrors = during.filter((line) => /ECONNREFUSED|ECONNRESET|Connection is closed/.test(line.text) && !/"redis unreachable; retrying"/.test(line.text));
      expect(connectionErrors.map((line) => line.text), app.name).toEqual([]);
      expect(warnings(app).length, `${app.name}:\n${output}`).toBeLessThanOrEqual(3);
    }
  });
});

import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// Run control with the apps as compose runs them: the web takes the request, and a worker
// process (another process, whichever holds the run) acts on it.
const prefix = uniquePrefix('e2e-run-control');
const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', RELEASE: 'e2e' };
const redis = connectTestRedis();
const queue = new Queue('default', { connection: redis, prefix });
const apps: AppProcess[] = [];
let workers: AppProcess[] = [];
let baseUrl = '';

async function api<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

beforeAll(async () => {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  workers = [1, 2].map((n) => startApp('worker', { name: `worker-${n}`, env: { ...common, WORKER_LOCK_MS: '2000' } }));
  apps.push(...workers, startApp('scheduler', { env: common }));
  const web = startApp('web', { env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'e2e-admin', DASHBOARD_PASSWORD: 'e2e-password-long-enough' } });
  apps.push(web);
  await Promise.all(workers.map((worker) => worker.waitForLog((log) => log.msg === 'worker ready', 30_000)));
  await web.waitForHttp(`${baseUrl}/readyz`, 60_000);
});

afterAll(async () => {
  await stopApps(apps);
  await queue.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('run control over HTTP, acted on by the worker process that holds the run', () => {
  it('cancels an active run on whichever worker holds it: it fails for good as cancelled, not retried', async () => {
    // ping has 3 attempts: a cancel that were retried would show attemptsMade above 1.
    const { body: run } = await api<{ id: string }>('POST', '/api/jobs/ping', { data: { sleepMs: 120_000 } });
    await expect.poll(async () => (await queue.getJob(run.id))?.getState(), { timeout: 30_000 }).toBe('active');

    const cancel = await api('POST', `/api/jobs/ping/runs/${run.id}/cancel`);
    expect(cancel).toEqual({ status: 200, body: { id: run.id, state: 'cancelling' } });

    const finished = await api<{ state: string; failedReason: string; attemptsMade: number }>('GET', `/api/jobs/ping/runs/${run.id}?wait=30s`);
    expect(finished.body).toMatchObject({ state: 'failed', attemptsMade: 1 });
    expect(finished.body.failedReason).toMatch(/^cancelled/);
    const holder = workers.filter((worker) => worker.logs().some((log) => log.msg === 'run cancelled' && log.runId === run.id));
    expect(holder).toHaveLength(1);
    // The run is not picked up again by anyone.
    expect((await queue.getJob(run.id))?.attemptsStarted).toBe(1);
  });

  it('retries a failed run with its attempts reset, and it runs again', async () => {
    const { body: run } = await api<{ id: string }>('POST', '/api/jobs/ping', { data: { failWith: 'retry me' }, opts: { jobId: `retry-${randomBytes(3).toString('hex')}` } });
    await expect.poll(async () => (await api<{ state: string }>('GET', `/api/jobs/ping/runs/${run.id}?wait=20s`)).body.state, { timeout: 60_000 }).toBe('failed');
    expect((await api('POST', `/api/jobs/ping/runs/${run.id}/retry`)).status).toBe(202);
    // It fails again (the same payload), after three new attempts, not one.
    await expect.poll(async () => (await queue.getJob(run.id))?.attemptsStarted, { timeout: 60_000 }).toBe(3);
    await expect.poll(async () => (await queue.getJob(run.id))?.getState(), { timeout: 30_000 }).toBe('failed');
  });

  it('backfills a past range across a DST change: each tick runs once, late ticks are not dropped as misfired, and a second backfill adds nothing', async () => {
    const put = await api('PUT', '/api/schedules/nightly-berlin', { job: 'ping', cron: '30 2 * * *', tz: 'Europe/Berlin', misfire: 'skip' });
    expect(put.status).toBe(201);
    // 02:30 does not exist on 2026-03-29: that tick runs at 03:30 CEST (01:30 UTC).
    const range = { from: '2026-03-27T00:00:00Z', to: '2026-03-30T23:59:59Z' };
    const first = await api('POST', '/api/schedules/nightly-berlin/backfill', range);
    expect(first).toEqual({ status: 202, body: { ticks: 4, enqueued: 4, skipped: 0 } });
    const ids = ['2026-03-27T01:30:00Z', '2026-03-28T01:30:00Z', '2026-03-29T01:30:00Z', '2026-03-30T00:30:00Z'].map((iso) => `nightly-berlin@${Date.parse(iso)}`);
    for (const id of ids) {
      const run = await api<{ state: string; attemptsMade: number; returnValue: unknown }>('GET', `/api/jobs/ping/runs/${id}?wait=30s`);
      // Its handler ran (a skipped tick completes too, with the skip as its result).
      expect(run.body).toMatchObject({ state: 'completed', attemptsMade: 1, returnValue: { pid: expect.any(Number) } });
    }
    expect(await api('POST', '/api/schedules/nightly-berlin/backfill', range)).toEqual({ status: 202, body: { ticks: 4, enqueued: 0, skipped: 4 } });
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { OwnRedisServer } from '../support/redis-server.js';
import { apiCaller } from '../support/http-api.js';

// Schedule changes made through the API are state in Redis, not in any process: stop every app and
// Redis itself (append-only file on, as compose runs it), start them again, and the changes are
// still there and still applied.

const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
let redis: OwnRedisServer;
let baseUrl = '';
let apps: AppProcess[] = [];

interface ScheduleView {
  id: string;
  owner: 'code' | 'api';
  paused: boolean;
  spec: { every?: number };
  nextRuns: string[];
  lastRun: { scheduledFor: string; state: string } | null;
}

const api = apiCaller(() => baseUrl, API_TOKEN);

async function schedules(): Promise<Map<string, ScheduleView>> {
  const { status, body } = await api<{ schedules: ScheduleView[] }>('GET', '/api/schedules');
  expect(status).toBe(200);
  return new Map(body.schedules.map((schedule) => [schedule.id, schedule]));
}

/** web, scheduler and worker, as compose starts them, against `redis`; resolves once the web is ready. */
async function startDeployment(): Promise<void> {
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const common = { REDIS_URL: redis.url, KEY_PREFIX: 'persist', LOG_LEVEL: 'info', RELEASE: 'e2e', SCHEDULER_POLL_MS: '200' };
  apps = [
    startApp('scheduler', { env: { ...common, LEASE_TTL_MS: '3000' } }),
    startApp('worker', { env: { ...common, WORKER_LOCK_MS: '3000' } }),
    startApp('web', {
      env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'e2e-admin', DASHBOARD_PASSWORD: 'e2e-password-long-enough' },
    }),
  ];
  await apps[2]?.waitForHttp(`${baseUrl}/readyz`, 60_000);
}

/** Waits until `id` has completed a run of a tick after `afterMs`. */
async function completesTickAfter(id: string, afterMs: number): Promise<void> {
  await expect
    .poll(
      async () => {
        const lastRun = (await schedules()).get(id)?.lastRun;
        return lastRun?.state === 'completed' && Date.parse(lastRun.scheduledFor) > afterMs;
      },
      { timeout: 30_000, interval: 250 },
    )
    .toBe(true);
}

beforeAll(async () => {
  redis = await OwnRedisServer.start();
  await startDeployment();
});

afterAll(async () => {
  await stopApps(apps);
  await redis?.destroy();
});

describe('schedule changes across a restart of every process and of Redis', () => {
  it('keeps api schedules, pauses and deletions, and the kept schedule fires again', async () => {
    expect((await api('PUT', '/api/schedules/ping-every-second', { job: 'ping', every: '1s', data: { note: 'persisted' } })).status).toBe(201);
    expect((await api('PUT', '/api/schedules/short-lived', { job: 'ping', every: '1m' })).status).toBe(201);
    expect((await api('DELETE', '/api/schedules/short-lived')).status).toBe(204);
    expect((await api('POST', '/api/schedules/cleanup-sessions/pause')).status).toBe(200);
    await completesTickAfter('ping-every-second', 0);

    await stopApps(apps, 20_000);
    expect(apps.map((app) => app.exitStatus)).toEqual(apps.map(() => ({ code: 0, signal: null })));
    await redis.stop();
    await redis.restart();
    const restartedAt = Date.now();
    await startDeployment();

    const after = await schedules();
    expect(after.get('ping-every-second')).toMatchObject({ owner: 'api', paused: false, spec: { every: 1000 } });
    expect(after.has('short-lived')).toBe(false);
    // The new leader reconciled code with Redis on start-up, and a pause of a code schedule survives that.
    expect(after.get('cleanup-sessions')).toMatchObject({ owner: 'code', paused: true, nextRuns: [] });
    await completesTickAfter('ping-every-second', restartedAt);
    expect((await schedules()).get('cleanup-sessions')?.paused).toBe(true);
  });
});

import { randomBytes } from 'node:crypto';
import { ReplicatedRedis, SENTINEL_MASTER_NAME } from '@drumline/test-redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';

// The three apps as compose runs them, reaching Redis through Sentinel: a primary, its replica and
// a sentinel, each a redis-server of this file's own, the data nodes and the sentinel each with a
// password. What happens when the primary fails over is another file's.

const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const PREFIX = 'sentinel';
const PASSWORD = 'data-node-secret';
const SENTINEL_PASSWORD = 'sentinel-secret';
let topology: ReplicatedRedis;
const apps: AppProcess[] = [];
const sentinelEnv = () => ({
  REDIS_SENTINELS: topology.sentinelAddresses,
  REDIS_SENTINEL_NAME: SENTINEL_MASTER_NAME,
  REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
  REDIS_PASSWORD: PASSWORD,
});

beforeAll(async () => {
  topology = await ReplicatedRedis.start({ replicas: 1, sentinels: 1, password: PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
});

afterAll(async () => {
  await stopApps(apps);
  await topology?.destroy();
});

describe('the apps on Redis Sentinel', () => {
  it('find the primary through the sentinel with both passwords: the web enqueues, the worker runs it, the scheduler makes /readyz ready', async () => {
    const common = { ...sentinelEnv(), KEY_PREFIX: PREFIX, LOG_LEVEL: 'info', RELEASE: 'e2e' };
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const worker = startApp('worker', { env: { ...common, WORKER_CONCURRENCY: '2' } });
    const scheduler = startApp('scheduler', { env: common });
    const web = startApp('web', { env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'test-admin', DASHBOARD_PASSWORD: 'test-password-long-enough' } });
    apps.push(worker, scheduler, web);
    await worker.waitForLog((log) => log.msg === 'worker ready', 30_000);
    // /readyz waits for the init tasks, which the scheduler runs and a worker completes.
    await web.waitForHttp(`${url}/readyz`, 60_000);

    const headers = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' };
    const enqueued = await fetch(`${url}/api/jobs/ping`, { method: 'POST', headers, body: JSON.stringify({ data: { note: 'through sentinel' }, opts: { jobId: 'via-sentinel' } }) });
    expect(enqueued.status).toBe(202);
    const done = await fetch(`${url}/api/jobs/ping/runs/via-sentinel?wait=30s`, { headers });
    expect(await done.json()).toMatchObject({ id: 'via-sentinel', state: 'completed', returnValue: { note: 'through sentinel', pid: worker.pid } });

    // Written to the primary the sentinel named, and from there replicated.
    expect(await topology.primary.ask((client) => client.hget(`${PREFIX}:default:via-sentinel`, 'finishedOn'))).not.toBeNull();
    const [replica] = topology.replicas;
    await expect.poll(() => replica?.ask((client) => client.hget(`${PREFIX}:default:via-sentinel`, 'finishedOn')), { timeout: 10_000 }).not.toBeNull();
  });

  it('refuses to start when REDIS_URL is set beside REDIS_SENTINELS, exiting 1 with a line naming both', async () => {
    const worker = startApp('worker', { env: { ...sentinelEnv(), REDIS_URL: topology.primary.url, KEY_PREFIX: PREFIX } });
    apps.push(worker);

    expect(await worker.exited).toEqual({ code: 1, signal: null });
    const stderr = worker.lines.filter((line) => line.stream === 'stderr').map((line) => line.text);
    expect(stderr).toContain('  REDIS_SENTINELS cannot be set together with REDIS_URL: set one of REDIS_URL (one Redis), REDIS_SENTINELS (Sentinel) or REDIS_CLUSTER_NODES (Cluster)');
  });
});

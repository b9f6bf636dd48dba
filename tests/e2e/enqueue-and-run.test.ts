import { QueueEvents, Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { apiCaller } from '../support/http-api.js';

// The deployment as compose runs it, on one Redis under a prefix of its own: the web, a scheduler
// (it runs the init tasks /readyz waits for) and two workers, each its own `node apps/<app>/dist/main.js`.
// Runs are enqueued over HTTP with the API token, the way a user's service does.

const prefix = uniquePrefix('e2e-enqueue-and-run');
const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const RUNS = 200;
const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', RELEASE: 'e2e' };
// A short lock, so the job of a worker killed with -9 is found stalled within seconds.
const workerEnv = { ...common, WORKER_CONCURRENCY: '10', WORKER_LOCK_MS: '2000', SHUTDOWN_GRACE_MS: '5000' };

const redis = connectTestRedis();
const eventsConnection = connectTestRedis();
const queue = new Queue('default', { connection: redis, prefix }); // ping's queue
const events = new QueueEvents('default', { connection: eventsConnection, prefix });
/** 'completed' events per run id, as every subscriber sees them. */
const completions = new Map<string, number>();
const apps: AppProcess[] = [];
let workers: AppProcess[] = [];
let baseUrl = '';

interface Enqueued {
  id: string;
  name: string;
  queue: string;
}

interface Run {
  id: string;
  state: string;
  attemptsMade: number;
  returnValue: { pid: number; note?: string } | null;
}

const api = apiCaller(() => baseUrl, API_TOKEN);

async function enqueuePing(data: { sleepMs?: number; note?: string }): Promise<Enqueued> {
  const { status, body } = await api<Enqueued>('POST', '/api/jobs/ping', { data });
  expect(status, JSON.stringify(body)).toBe(202);
  return body;
}

async function getRun(id: string): Promise<Run> {
  const { status, body } = await api<Run>('GET', `/api/jobs/ping/runs/${encodeURIComponent(id)}`);
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

/** The pid in a BullMQ `processedBy` (`<host>:<pid>`, the worker's name). */
async function pidRunning(id: string): Promise<number | undefined> {
  const job = await queue.getJob(id);
  const pid = Number(job?.processedBy?.split(':').pop());
  return (await job?.getState()) === 'active' && Number.isInteger(pid) ? pid : undefined;
}

beforeAll(async () => {
  events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
  await events.waitUntilReady();
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;

  workers = [1, 2].map((n) => startApp('worker', { name: `worker-${n}`, env: workerEnv }));
  apps.push(...workers, startApp('scheduler', { env: common }));
  const web = startApp('web', {
    env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'e2e-admin', DASHBOARD_PASSWORD: 'e2e-password-long-enough' },
  });
  apps.push(web);
  await Promise.all(workers.map((worker) => worker.waitForLog((log) => log.msg === 'worker ready', 30_000)));
  await web.waitForHttp(`${baseUrl}/readyz`, 60_000);
});

afterAll(async () => {
  await stopApps(apps);
  await events.close();
  await queue.close();
  await deleteKeys(redis, prefix);
  await Promise.all([redis.quit(), eventsConnection.quit()]);
});

describe('enqueue over HTTP and run on two workers', () => {
  it(`runs each of ${RUNS} ping runs exactly once`, async () => {
    const enqueued = await Promise.all(Array.from({ length: RUNS }, (_, i) => enqueuePing({ sleepMs: 20, note: `run ${i}` })));
    const ids = enqueued.map((run) => run.id);
    expect(new Set(ids).size).toBe(RUNS);
    expect(enqueued[0]).toMatchObject({ name: 'ping', queue: 'default' });

    await expect.poll(() => ids.filter((id) => completions.has(id)).length, { timeout: 60_000, interval: 200 }).toBe(RUNS);

    const runs = await Promise.all(ids.map(getRun));
    expect(runs.filter((run) => run.state !== 'completed')).toEqual([]);
    expect(runs.filter((run) => run.attemptsMade !== 1)).toEqual([]);
    runs.forEach((run, i) => expect(run.returnValue?.note).toBe(`run ${i}`));
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    expect(jobs.filter((job) => job?.attemptsStarted !== 1).map((job) => job?.id)).toEqual([]);
    expect(ids.filter((id) => completions.get(id) !== 1)).toEqual([]);
    // Both workers took their share, and no other process ran anything.
    const pids = new Set(runs.map((run) => run.returnValue?.pid));
    expect(pids).toEqual(new Set(workers.map((worker) => worker.pid)));
  });

  it('completes a run on the surviving worker when the worker running it is killed with -9', async () => {
    const { id } = await enqueuePing({ sleepMs: 3000, note: 'survive kill -9' });
    let victimPid: number | undefined;
    await expect.poll(async () => (victimPid = await pidRunning(id)), { timeout: 15_000, interval: 50 }).toBeDefined();
    const victim = workers.find((worker) => worker.pid === victimPid);
    const survivor = workers.find((worker) => worker !== victim);
    if (!victim || !survivor) throw new Error(`run ${id} is running in pid ${victimPid}, which is none of the workers`);

    expect(await victim.kill()).toEqual({ code: null, signal: 'SIGKILL' });

    await expect.poll(async () => (await getRun(id)).state, { timeout: 30_000, interval: 250 }).toBe('completed');
    const run = await getRun(id);
    expect(run.returnValue).toMatchObject({ pid: survivor.pid, note: 'survive kill -9' });
    expect(run.attemptsMade).toBe(1); // a stall is not a failed attempt
    expect((await queue.getJob(id))?.attemptsStarted).toBe(2);
    expect(completions.get(id)).toBe(1);
    await survivor.waitForLog((log) => log.msg?.startsWith('run stalled') === true && log.runId === id, 5_000);
  });

  it('reports a scheduled run over the API as started at or after its tick, its lateness not negative, and its duration within its start and finish', async () => {
    const put = await api('PUT', '/api/schedules/e2e-ping-2s', { job: 'ping', every: '2s', data: { note: 'on schedule' } });
    expect(put.status).toBe(201);
    type LastRun = { runId: string; state: string; scheduledFor: string; latenessMs: number };
    const completed: LastRun[] = [];
    await expect
      .poll(async () => {
        const { lastRun } = (await api<{ lastRun: LastRun | null }>('GET', '/api/schedules/e2e-ping-2s')).body;
        if (lastRun?.state === 'completed') completed.push(lastRun);
        return completed.length;
      }, { timeout: 15_000, interval: 200 })
      .toBeGreaterThan(0);
    expect((await api('DELETE', '/api/schedules/e2e-ping-2s')).status).toBe(204);
    const lastRun = completed[0]!;

    expect(lastRun.latenessMs).toBeGreaterThanOrEqual(0);
    const { body: run } = await api<{ scheduledFor: string; startedAt: string; finishedAt: string; durationMs: number }>('GET', `/api/jobs/ping/runs/${encodeURIComponent(lastRun.runId)}`);
    expect(Date.parse(run.scheduledFor)).toBe(Date.parse(lastRun.scheduledFor));
    expect(Date.parse(run.startedAt)).toBeGreaterThanOrEqual(Date.parse(run.scheduledFor));
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
    expect(run.durationMs).toBeLessThanOrEqual(Date.parse(run.finishedAt) - Date.parse(run.startedAt));
  });

  it('stops every process still running with exit code 0 on SIGTERM', async () => {
    const running = apps.filter((app) => app.exitStatus === undefined);
    const exits = await Promise.all(running.map(async (app) => ({ app: app.name, ...(await app.stop(20_000)) })));
    expect(exits).toEqual(running.map((app) => ({ app: app.name, code: 0, signal: null })));
  });
});

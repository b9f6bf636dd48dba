import { Queue, type Job } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';
import { mostAtOnce, mostInAWindow } from '../support/intervals.js';

// Flow control over real processes: three workers and two webs, as compose scales them, on the
// test jobs of tests/jobs/src/flow-jobs.ts. Each run returns when its handler started and ended,
// so the limits are checked on what actually ran, not on what the code meant to do.

const prefix = uniquePrefix('e2e-flow-control');
const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const LOCK_MS = 2000;
const common = { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'info', RELEASE: 'e2e' };
// debug: the workers log when a rate limit counted each start.
const workerEnv = { ...common, LOG_LEVEL: 'debug', WORKER_CONCURRENCY: '5', WORKER_LOCK_MS: String(LOCK_MS), SHUTDOWN_GRACE_MS: '2000' };

const redis = connectTestRedis();
const queue = new Queue('flow', { connection: redis, prefix });
const apps: AppProcess[] = [];
let workers: AppProcess[] = [];
let webUrls: string[] = [];

interface Timed {
  startedAt: number;
  finishedAt: number;
  pid: number;
}

async function post<T>(webUrl: string, path: string, body: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${webUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function bulk(job: string, items: object[]): Promise<string[]> {
  const { status, body } = await post<{ ids: string[] }>(webUrls[0] as string, `/api/jobs/${job}/bulk`, { items: items.map((data) => ({ data })) });
  expect(status, JSON.stringify(body)).toBe(202);
  return body.ids;
}

/** Waits until every run in `ids` has completed, and returns them. */
async function completed(ids: readonly string[], timeout = 60_000): Promise<Job[]> {
  await expect
    .poll(
      async () => {
        const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
        return states.filter((state) => state !== 'completed').length;
      },
      { timeout, interval: 200 },
    )
    .toBe(0);
  // Read once all are done: a run read before it completed has no return value yet.
  return (await Promise.all(ids.map((id) => queue.getJob(id)))) as Job[];
}

function startWorker(name: string): AppProcess {
  const worker = startApp('worker', { name, env: workerEnv });
  apps.push(worker);
  return worker;
}

beforeAll(async () => {
  workers = ['worker-1', 'worker-2', 'worker-3'].map(startWorker);
  const ports = [await freePort(), await freePort()];
  const webs = ports.map((port, index) =>
    startApp('web', {
      name: `web-${index + 1}`,
      env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'test-admin', DASHBOARD_PASSWORD: 'test-password-long-enough' },
    }),
  );
  apps.push(...webs);
  webUrls = ports.map((port) => `http://127.0.0.1:${port}`);
  await Promise.all(workers.map((worker) => worker.waitForLog((log) => log.msg === 'worker ready', 30_000)));
  await Promise.all(webs.map((web, index) => web.waitForHttp(`${webUrls[index]}/healthz`, 60_000)));
});

afterAll(async () => {
  await stopApps(apps);
  await queue.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('concurrency: { key, limit: 2 } over three workers', () => {
  it('never runs more than 2 at once for any tenant of 10 flooded at once, and runs every run once', async () => {
    const tenants = Array.from({ length: 10 }, (_, index) => `tenant-${index}`);
    const ids = await bulk(
      'sync-tenant',
      tenants.flatMap((tenantId) => Array.from({ length: 8 }, () => ({ tenantId, sleepMs: 40 }))),
    );
    const runs = await completed(ids);
    expect(new Set(ids).size).toBe(80);
    for (const run of runs) expect(run.attemptsMade, run.id).toBe(1);
    for (const tenantId of tenants) {
      const mine = runs.filter((run) => run.data.tenantId === tenantId).map((run) => run.returnvalue as Timed);
      expect(mine, tenantId).toHaveLength(8);
      expect(mostAtOnce(mine), tenantId).toBeLessThanOrEqual(2);
    }
    // 15 worker slots for 10 tenants: the limit, not the workers, is what held them back.
    expect(mostAtOnce(runs.map((run) => run.returnvalue as Timed))).toBeGreaterThan(2);
    expect(new Set(runs.map((run) => (run.returnvalue as Timed).pid)).size).toBeGreaterThan(1);
  });

  it("starts another tenant's run before a flooding tenant's 300 are through (they wait in their line, not in the queue)", async () => {
    const flood = await bulk('sync-tenant', Array.from({ length: 300 }, () => ({ tenantId: 'flood', sleepMs: 10 })));
    const [quiet] = await bulk('sync-tenant', [{ tenantId: 'quiet', sleepMs: 0 }]);
    const [quietRun] = await completed([quiet as string]);
    const floodRuns = await completed(flood, 120_000);
    const floodStarts = floodRuns.map((run) => (run.returnvalue as Timed).startedAt);
    expect((quietRun?.returnvalue as Timed).startedAt, `quiet ${JSON.stringify(quietRun?.returnvalue)}, flood's last start ${Math.max(...floodStarts)}`).toBeLessThan(Math.max(...floodStarts));
    expect(mostAtOnce(floodRuns.map((run) => run.returnvalue as Timed))).toBeLessThanOrEqual(2);
  }, 180_000);

  it('lets the runs waiting for a tenant start in the order they were enqueued', async () => {
    const busy = await bulk('sync-tenant', [
      { tenantId: 'in-order', sleepMs: 500 },
      { tenantId: 'in-order', sleepMs: 500 },
    ]);
    await expect.poll(() => Promise.all(busy.map((id) => queue.getJobState(id))), { timeout: 20_000, interval: 20 }).toEqual(['active', 'active']);
    // One at a time, so each waits behind the ones before it (first come, first served, to the millisecond).
    const waiting: string[] = [];
    for (let index = 0; index < 8; index += 1) waiting.push(...(await bulk('sync-tenant', [{ tenantId: 'in-order', sleepMs: 30 }])));
    const runs = await completed(waiting);
    const enqueuedAt = runs.map((run) => run.timestamp);
    expect(new Set(enqueuedAt).size, 'each enqueue in a millisecond of its own').toBe(8);
    const starts = runs.map((run) => (run.returnvalue as Timed).startedAt);
    // Two at a time: each run starts no sooner than the one enqueued two before it.
    for (let index = 2; index < starts.length; index += 1) expect(starts[index], waiting[index]).toBeGreaterThanOrEqual(starts[index - 2] as number);
  });

  it("takes back the slots of a worker killed with -9 within the lock time, and runs everything once the dead worker's runs come back", async () => {
    const [long1, long2] = await bulk('sync-tenant', [
      { tenantId: 'crash', sleepMs: 4000 },
      { tenantId: 'crash', sleepMs: 4000 },
    ]);
    await expect.poll(async () => [await queue.getJobState(long1 as string), await queue.getJobState(long2 as string)], { timeout: 20_000, interval: 50 }).toEqual(['active', 'active']);
    const [waiting] = await bulk('sync-tenant', [{ tenantId: 'crash', sleepMs: 0 }]);
    await expect.poll(() => queue.getJobState(waiting as string), { timeout: 20_000, interval: 50 }).toBe('delayed');

    // Kill every worker holding one of the two: their slots are renewed while they run, never past the lock time.
    const holders = new Set([(await queue.getJob(long1 as string))?.processedBy, (await queue.getJob(long2 as string))?.processedBy]);
    const victims = workers.filter((worker) => [...holders].some((holder) => holder?.includes(String(worker.pid))));
    expect(victims.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    await Promise.all(victims.map((victim) => victim.kill()));
    const slots = `${prefix}:drumline:flow:{sync-tenant:concurrency:crash}:slots`;
    const lapses = (await redis.zrange(slots, 0, -1, 'WITHSCORES')).filter((_, index) => index % 2 === 1).map(Number);
    for (const lapse of lapses) expect(lapse).toBeLessThanOrEqual(killedAt + LOCK_MS);
    for (const victim of victims) workers[workers.indexOf(victim)] = startWorker(`${victim.name}-again`);

    const runs = await completed([long1 as string, long2 as string, waiting as string]);
    expect(mostAtOnce(runs.map((run) => run.returnvalue as Timed))).toBeLessThanOrEqual(2);
  });
});

describe('rateLimit: { max: 5, perMs: 1000, key }', () => {
  it('starts no more than 5 runs of one key in any second, and runs every run; another key is not held back', async () => {
    const ids = await bulk('call-partner', Array.from({ length: 16 }, () => ({ apiKey: 'partner-a' })));
    const [other] = await bulk('call-partner', [{ apiKey: 'partner-b' }]);
    const runs = await completed(ids);
    const starts = runs.map((run) => (run.returnvalue as Timed).startedAt);
    // The limit is on starts as the worker counts them (its debug log says when); the handler's
    // first line runs a few ms after, more on a loaded machine.
    const counted = workers
      .flatMap((worker) => worker.logs())
      .filter((log) => log.msg === 'run let through by its rate limit' && ids.includes(log.runId as string))
      .map((log) => log.countedAt as number);
    expect(counted).toHaveLength(16);
    expect(mostInAWindow(counted, 1000), JSON.stringify(counted)).toBeLessThanOrEqual(5);
    for (const run of runs) expect((run.returnvalue as Timed).startedAt).toBeGreaterThanOrEqual(Math.min(...counted));
    // 16 starts at 5 a second cannot all fit in less than 3 windows.
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(3000);
    const [otherRun] = await completed([other as string]);
    // partner-b did not queue behind partner-a's 16: it started before partner-a's last.
    expect((otherRun?.returnvalue as Timed).startedAt).toBeLessThan(Math.max(...starts));
  });
});

describe('dedupe: { key, ttlMs } across two web processes', () => {
  it('answers 20 concurrent enqueues of one tenant with one run: one new, the rest duplicates of it', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => post<{ id: string; duplicate: boolean }>(webUrls[index % 2] as string, '/api/jobs/refresh-cache', { data: { tenantId: 'dedupe-1', version: index } })),
    );
    const ids = new Set(answers.map((answer) => answer.body.id));
    expect(ids.size).toBe(1);
    expect(answers.filter((answer) => answer.status === 202 && !answer.body.duplicate)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 200 && answer.body.duplicate)).toHaveLength(19);
    const [run] = await completed([...ids]);
    expect(await queue.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(0);
    expect(run?.name).toBe('refresh-cache');
  });
});

describe('debounce: { key, waitMs: 1000 } across two web processes', () => {
  it('runs once, with the last enqueue\'s data, no sooner than a second after it', async () => {
    const answers: { id: string; debounce: { after: string | null } }[] = [];
    let lastAt = 0;
    for (let version = 1; version <= 6; version += 1) {
      lastAt = Date.now();
      const { status, body } = await post<{ id: string; debounce: { after: string | null } }>(webUrls[version % 2] as string, '/api/jobs/reindex-tenant', {
        data: { tenantId: 'debounce-1', version },
      });
      expect(status, JSON.stringify(body)).toBe(202);
      answers.push(body);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const last = answers.at(-1)?.id as string;
    const [run] = await completed([last]);
    expect(run?.data).toEqual({ tenantId: 'debounce-1', version: 6 });
    expect((run?.returnvalue as Timed).startedAt).toBeGreaterThanOrEqual(lastAt + 1000);
    // The earlier enqueues' runs were replaced by the later ones: nothing else ran or waits.
    for (const answer of answers.slice(0, -1)) expect(await queue.getJob(answer.id)).toBeUndefined();
    expect(answers.every((answer) => answer.debounce.after === null)).toBe(true);
  });

  it('keeps an enqueue made while the run is active as the run after it, with its data', async () => {
    const first = await post<{ id: string }>(webUrls[0] as string, '/api/jobs/reindex-tenant', { data: { tenantId: 'debounce-2', version: 1, sleepMs: 3000 } });
    await expect.poll(() => queue.getJobState(first.body.id), { timeout: 20_000, interval: 50 }).toBe('active');
    const during = await post<{ id: string; debounce: { after: string | null } }>(webUrls[1] as string, '/api/jobs/reindex-tenant', { data: { tenantId: 'debounce-2', version: 2 } });
    expect(during.status).toBe(202);
    expect(during.body.debounce.after).toBe(first.body.id);
    const [firstRun, next] = await completed([first.body.id, during.body.id], 30_000);
    expect(next?.data).toMatchObject({ version: 2 });
    expect((next?.returnvalue as Timed).startedAt).toBeGreaterThanOrEqual((firstRun?.returnvalue as Timed).finishedAt);
  });
});

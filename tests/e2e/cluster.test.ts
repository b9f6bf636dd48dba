import { parseScheduledRunId, queuePrefix } from '@drumline/core/runtime';
import { Queue, QueueEvents } from 'bullmq';
import type { Cluster } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { OwnRedisCluster } from '../support/redis-cluster.js';
import { apiCaller } from '../support/http-api.js';
import { scanKeys } from '../support/redis.js';

// The whole system on a Redis Cluster of three shards, each a primary with a replica, as compose
// would run it against one: the web, two schedulers and two workers, all given REDIS_CLUSTER_NODES.
// `ping` runs on three queues whose keys the cluster keeps on three primaries (tests/jobs/src/cluster.ts).
// One cluster and one deployment for the file; the last test kills a primary.

const PREFIX = 'cluster';
const API_TOKEN = `e2e-${randomBytes(16).toString('hex')}`;
const JOBS = { ping: 'default', 'ping-reports': 'reports', 'ping-tenants': 'tenants' } as const;
type JobName = keyof typeof JOBS;
const NAMES = Object.keys(JOBS) as JobName[];
/** A schedule a second on each queue. */
const SCHEDULES = NAMES.map((job) => ({ id: `every-second-${JOBS[job]}`, job }));

let cluster: OwnRedisCluster;
let client: Cluster;
let baseUrl = '';
const apps: AppProcess[] = [];
const queues = new Map<string, Queue>();
const events: QueueEvents[] = [];
/** How many times each run started (BullMQ's `active` event), as every subscriber sees it. */
const starts = new Map<string, number>();

beforeAll(async () => {
  cluster = await OwnRedisCluster.start({ primaries: 3, replicas: 1, nodeTimeoutMs: 2000 });
  client = cluster.connect();
  for (const queue of Object.values(JOBS)) {
    const prefix = queuePrefix(PREFIX, queue, 'cluster');
    queues.set(queue, new Queue(queue, { connection: client, prefix }));
    const stream = new QueueEvents(queue, { connection: client, prefix });
    stream.on('active', ({ jobId }) => starts.set(jobId, (starts.get(jobId) ?? 0) + 1));
    // While a primary fails over, the stream's reads fail; it reads on once the replica serves.
    stream.on('error', () => {});
    events.push(stream);
  }
  await Promise.all(events.map((stream) => stream.waitUntilReady()));

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  const common = {
    ...cluster.env(),
    KEY_PREFIX: PREFIX,
    LOG_LEVEL: 'info',
    RELEASE: 'e2e',
    JOBS_MODULE: join(REPO_ROOT, 'tests/jobs/dist/cluster.js'),
    LEASE_TTL_MS: '3000',
    SCHEDULER_LOOKAHEAD_MS: '6000',
    SCHEDULER_POLL_MS: '200',
  };
  const workers = [1, 2].map((n) => startApp('worker', { name: `worker-${n}`, env: { ...common, WORKER_CONCURRENCY: '10' } }));
  const schedulers = [1, 2].map((n) => startApp('scheduler', { name: `scheduler-${n}`, env: common }));
  const web = startApp('web', { env: { ...common, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'test-admin', DASHBOARD_PASSWORD: 'test-password-long-enough' } });
  apps.push(web, ...schedulers, ...workers);
  await Promise.all(workers.map((worker) => worker.waitForLog((log) => log.msg === 'worker ready', 30_000)));
  // /readyz: the leader ran the init task on the cluster and a worker completed it.
  await web.waitForHttp(`${baseUrl}/readyz`, 60_000);
});

afterAll(async () => {
  await stopApps(apps);
  await Promise.all(events.map((stream) => stream.close()));
  await Promise.all([...queues.values()].map((queue) => queue.close()));
  client?.disconnect();
  await cluster?.destroy();
});

const api = apiCaller(() => baseUrl, API_TOKEN);

/** The ticks of `scheduleId` whose run completed, each with how many completed runs it has. */
async function completedTicks(scheduleId: string, job: JobName): Promise<Map<number, number>> {
  const completed = new Map<number, number>();
  for (const run of await (queues.get(JOBS[job]) as Queue).getJobs(['completed'], 0, -1)) {
    const scheduled = parseScheduledRunId(run.id);
    if (scheduled && !scheduled.manual && scheduled.scheduleId === scheduleId) {
      const tick = scheduled.scheduledFor.getTime();
      completed.set(tick, (completed.get(tick) ?? 0) + 1);
    }
  }
  return completed;
}

/** The whole seconds in [from, until]: the ticks of an `every: '1s'` schedule. */
function ticksIn(from: number, until: number): number[] {
  const ticks: number[] = [];
  for (let tick = Math.ceil(from / 1000) * 1000; tick <= until; tick += 1000) ticks.push(tick);
  return ticks;
}

/** Waits until every schedule's ticks in [from, until] have completed; a deadline far past the ticks' own time. */
async function untilCompleted(from: number, until: number): Promise<void> {
  await expect
    .poll(
      async () => {
        const missing: string[] = [];
        for (const { id, job } of SCHEDULES) {
          const completed = await completedTicks(id, job);
          for (const tick of ticksIn(from, until)) if (!completed.has(tick)) missing.push(`${id}@${tick}`);
        }
        return missing;
      },
      { timeout: until - Date.now() + 60_000, interval: 250 },
    )
    .toEqual([]);
}

/** The ticks of every schedule in [from, until] that started other than exactly once. */
function notStartedOnce(from: number, until: number): string[] {
  return SCHEDULES.flatMap(({ id }) => ticksIn(from, until).map((tick) => `${id}@${tick}`)).filter((runId) => starts.get(runId) !== 1);
}

describe('Drumline on a Redis Cluster of three shards', () => {
  it("enqueues over HTTP and runs jobs of three queues, each queue's keys on a primary of its own", async () => {
    for (const name of NAMES) {
      const bulk = await api<{ ids: string[] }>('POST', `/api/jobs/${name}/bulk`, { items: Array.from({ length: 20 }, (_, n) => ({ data: { note: `bulk ${n}` } })) });
      expect(bulk.status).toBe(202);
      const one = await api<{ id: string }>('POST', `/api/jobs/${name}`, { data: { note: 'one' }, opts: { jobId: `one-${name}` } });
      expect(one.status).toBe(202);
      for (const id of [...bulk.body.ids, one.body.id]) {
        const { body } = await api<{ state: string; returnValue: { note?: string } }>('GET', `/api/jobs/${name}/runs/${id}?wait=30s`);
        expect(body.state, `${name} run ${id}`).toBe('completed');
      }
      // The history reads the queue's own lists: all 21 runs, newest first.
      const listed = await api<{ runs: { id: string }[] }>('GET', `/api/jobs/${name}/runs?state=completed&limit=100`);
      expect(listed.body.runs.map((run) => run.id)).toEqual(expect.arrayContaining([...bulk.body.ids, one.body.id]));
    }

    const holders = await Promise.all(
      Object.values(JOBS).map(async (queue) => new Set(await Promise.all((await scanKeys(client, `${PREFIX}:{${queue}}:*`)).map((key) => cluster.primaryPortOf(key))))),
    );
    for (const holder of holders) expect(holder.size).toBe(1);
    expect(new Set(holders.flatMap((holder) => [...holder])).size).toBe(3);
    // Drumline's own keys (schedules, lease, cursors, claims, locks) share one slot.
    const own = await scanKeys(client, `${PREFIX}:{drumline}:*`);
    expect(own.length).toBeGreaterThan(0);
    expect(new Set(await Promise.all(own.map((key) => client.cluster('KEYSLOT', key)))).size).toBe(1);
  });

  it("cancels an active run on the worker that holds it, the request reaching it through the cluster's pub/sub", async () => {
    const { body: run } = await api<{ id: string }>('POST', '/api/jobs/ping-tenants', { data: { sleepMs: 120_000 } });
    await expect.poll(async () => (await (queues.get('tenants') as Queue).getJob(run.id))?.getState(), { timeout: 30_000 }).toBe('active');

    expect(await api('POST', `/api/jobs/ping-tenants/runs/${run.id}/cancel`)).toEqual({ status: 200, body: { id: run.id, state: 'cancelling' } });
    const finished = await api<{ state: string; failedReason: string; attemptsMade: number }>('GET', `/api/jobs/ping-tenants/runs/${run.id}?wait=30s`);
    expect(finished.body).toMatchObject({ state: 'failed', attemptsMade: 1 });
    expect(finished.body.failedReason).toMatch(/^cancelled/);
  });

  it("shows the three queues in the dashboard, with what each holds", async () => {
    const response = await fetch(`${baseUrl}/admin/queues/api/queues`, { headers: { authorization: `Basic ${Buffer.from('test-admin:test-password-long-enough').toString('base64')}` } });
    expect(response.status).toBe(200);
    const { queues: shown } = (await response.json()) as { queues: { name: string; counts: { completed: number } }[] };
    for (const queue of Object.values(JOBS)) expect(shown.find((entry) => entry.name === queue)?.counts.completed).toBeGreaterThanOrEqual(21);
  });

  it('runs each tick of a schedule on each queue exactly once, with two schedulers and two workers, and a backfill once', async () => {
    for (const { id, job } of SCHEDULES) {
      const { status } = await api('PUT', `/api/schedules/${id}`, { job, every: '1s', misfire: 'all' });
      expect(status).toBe(201);
    }
    const from = Date.now() + 2000;
    const until = from + 5000;
    await untilCompleted(from, until);
    expect(notStartedOnce(from, until)).toEqual([]);
    // Their ledgers, in Drumline's slot, tell each tick ran: written within the claim and report scripts there.
    // A worker writes its runs' events just after they end, with the others of those 100 ms.
    const expected: number[] = [];
    for (let tick = Math.ceil(from / 1000) * 1000; tick <= until; tick += 1000) expected.push(tick);
    for (const { id } of SCHEDULES) {
      const listed = async () => (await api<{ ticks: { tick: string; state: string }[] }>('GET', `/api/schedules/${id}/ticks?from=${from}&to=${until}&limit=1000`)).body.ticks;
      await expect.poll(async () => (await listed()).map((tick) => [Date.parse(tick.tick), tick.state]).reverse(), { timeout: 10_000 }).toEqual(expected.map((tick) => [tick, 'ran']));
    }

    // Each past tick of the range once: the runs sit in the queue's slot, their claims in Drumline's.
    const range = { from: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 120_000).toISOString(), to: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 118_000).toISOString() };
    const backfill = await api<{ ticks: number; enqueued: number; skipped: number }>('POST', `/api/schedules/${SCHEDULES[2]?.id}/backfill`, range);
    expect(backfill).toEqual({ status: 202, body: { ticks: 3, enqueued: 3, skipped: 0 } });
    const again = await api<{ ticks: number; enqueued: number; skipped: number }>('POST', `/api/schedules/${SCHEDULES[2]?.id}/backfill`, range);
    expect(again).toEqual({ status: 202, body: { ticks: 3, enqueued: 0, skipped: 3 } });
  });

  it("carries on through kill -9 of the primary holding Drumline's own keys: its replica takes over, every tick runs, once, and enqueues run", async () => {
    const port = await cluster.primaryPortOf(`${PREFIX}:{drumline}:leader`);
    const killedAt = Date.now();
    await cluster.kill(port);
    await cluster.untilServing(60_000);
    const servingAt = Date.now();

    // Every tick from before the kill to five seconds after the cluster serves again runs: those due
    // while the shard was down late (their commands wait the failover out), not dropped (misfire: 'all').
    const until = servingAt + 6000;
    await untilCompleted(killedAt - 5000, until);
    // Each once, but for what Redis may lose: it replicates asynchronously, so what the dead primary
    // acknowledged in its last moments may be gone with it, and a run in flight then (a tick of the
    // second before the kill) may start again.
    const inFlightAtKill = (runId: string) => {
      const tick = parseScheduledRunId(runId)?.scheduledFor.getTime() ?? 0;
      return tick >= killedAt - 1000 && tick <= killedAt;
    };
    expect(notStartedOnce(killedAt - 5000, until).filter((runId) => !inFlightAtKill(runId))).toEqual([]);

    for (const name of NAMES) {
      const { status, body } = await api<{ id: string }>('POST', `/api/jobs/${name}`, { data: { note: 'after failover' } });
      expect(status).toBe(202);
      expect((await api<{ state: string }>('GET', `/api/jobs/${name}/runs/${body.id}?wait=30s`)).body.state).toBe('completed');
    }
    expect(apps.filter((app) => app.exitStatus !== undefined).map((app) => app.name)).toEqual([]);
    // Longer than untilCompleted's own deadline, so a stuck tick fails naming it rather than timing out.
  }, 150_000);
});

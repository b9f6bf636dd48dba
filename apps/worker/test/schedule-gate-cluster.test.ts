import {
  apiScheduleRecord,
  baseEnvSchema,
  closeRedis,
  createJobRegistry,
  createLogger,
  createRedis,
  defineJob,
  jobOptionsFor,
  parseEnv,
  QueueSet,
  scheduledRunId,
  ScheduleStore,
  type JobDefinition,
  type RedisConnection,
} from '@drumline/core/runtime';
import { Worker } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OwnRedisCluster } from '../../../tests/support/redis-cluster.js';
import { deleteKeys } from '../../../tests/support/redis.js';
import { JobRunner } from '../src/job-runner.js';
import { gateScheduledRuns, ScheduleGate } from '../src/schedule-gate.js';

// The schedule gate on a real three-primary Redis Cluster, wired as the worker's main.ts wires it
// (its own auto-pipelined connection, one BullMQ Worker per queue). There a run's claim lies in
// Drumline's slot and its job in its queue's, so the claim and the marking of the job as started
// are two calls (see ClaimBatch): what the single-Redis tests in schedule-gate.test.ts check in
// one script is checked here across the two.

const PREFIX = 'gate';
const handled: { id: string; start: number }[] = [];
// Queue names that hash into the three primaries' slot ranges (tests/jobs/src/sharded-pings.ts).
const QUEUES = ['reports', 'default', 'tenants'] as const;
const jobs = QUEUES.map((queue) =>
  defineJob({
    name: `sleep-on-${queue}`,
    queue,
    schema: z.object({ ms: z.number().default(5), failTimes: z.number().default(0) }),
    attempts: 3,
    backoff: { type: 'fixed', delayMs: 50 },
    async handler({ ms, failTimes }, { jobId, attempt }) {
      handled.push({ id: jobId, start: Date.now() });
      await sleep(ms);
      if (attempt <= failTimes) throw new Error(`attempt ${attempt} fails`);
      return 'ran';
    },
  }),
);
const registry = createJobRegistry(jobs);

let cluster: OwnRedisCluster;
let connection: RedisConnection;
let gateConnection: RedisConnection;
let queues: QueueSet;
let store: ScheduleStore;
const workers: Worker[] = [];

beforeAll(async () => {
  cluster = await OwnRedisCluster.start({ primaries: 3 });
  const config = parseEnv(baseEnvSchema, cluster.env());
  connection = createRedis(config);
  gateConnection = createRedis(config, { enableAutoPipelining: true });
  queues = new QueueSet(registry, connection, PREFIX);
  store = new ScheduleStore(connection, PREFIX);
  const gate = new ScheduleGate(gateConnection, PREFIX, { overlapLockMs: 5000, tickClaimSeconds: 60 });
  const runner = new JobRunner({ registry, logger: createLogger({ app: 'test', level: 'silent' }), beforeScheduledRun: gateScheduledRuns(gate) });
  for (const queue of queues.all()) workers.push(new Worker(queue.name, runner.process, { connection, prefix: queue.opts.prefix, concurrency: 4 }));
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close()));
  await queues?.close();
  if (connection) await deleteKeys(connection, PREFIX);
  for (const redis of [connection, gateConnection]) if (redis) await closeRedis(redis);
  await cluster?.destroy();
});

async function schedule(id: string, job: JobDefinition, overlap: 'allow' | 'skip' = 'allow', data: object = {}) {
  await store.putFromApi(apiScheduleRecord(registry, id, { job: job.name, every: '1h', overlap, data }));
}
function add(job: JobDefinition, id: string, data: object = {}) {
  return queues.queueOf(job).add(job.name, data, { ...jobOptionsFor(job), jobId: id });
}
/** The run once it has completed, as Redis has it then; throws if it failed. */
async function finished(job: JobDefinition, id: string) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    // The state first: a job read before it completes has no return value yet.
    const state = await queues.queueOf(job).getJobState(id);
    const run = state === 'completed' || state === 'failed' ? await queues.queueOf(job).getJob(id) : undefined;
    if (state === 'failed') throw new Error(`run ${id} failed: ${run?.failedReason}`);
    if (run) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} did not finish within 20 s`);
    await sleep(20);
  }
}
let next = 0;
/** A tick a moment ago, each one new: on time, and not ahead of the clock. */
const tickOf = () => Date.now() - 500 + ++next;

describe('scheduled runs at the worker, on Redis Cluster', () => {
  it('claims each tick of schedules on three shards once: the ticks due together run, and a tick re-added after its run was removed does not', async () => {
    for (const job of jobs) await schedule(`once-${job.queue}`, job);
    const ids = jobs.map((job) => scheduledRunId(`once-${job.queue}`, tickOf()));
    await Promise.all(jobs.map((job, index) => add(job, ids[index] as string)));
    for (const [index, job] of jobs.entries()) expect((await finished(job, ids[index] as string)).returnvalue).toBe('ran');

    for (const [index, job] of jobs.entries()) {
      const id = ids[index] as string;
      await queues.queueOf(job).remove(id);
      await add(job, id);
      expect((await finished(job, id)).returnvalue).toEqual({ skipped: 'duplicate' });
      expect(handled.filter((run) => run.id === id)).toHaveLength(1);
    }
  });

  it("marks a run held until its tick as started when its handler starts, in its job's own slot, and reports that start as its schedule's last run", async () => {
    const job = jobs[2] as JobDefinition;
    await schedule('held', job);
    const tick = Date.now() + 400;
    const id = scheduledRunId('held', tick);
    await add(job, id);

    const run = await finished(job, id);
    const handler = handled.find((entry) => entry.id === id);
    expect(run.timestamp).toBeLessThan(tick); // in the queue before its tick, so a worker held it
    expect(run.processedOn).toBeGreaterThanOrEqual(tick);
    expect(handler?.start).toBeGreaterThanOrEqual(run.processedOn as number);
    expect((await store.lastRuns(['held'])).get('held')).toMatchObject({ state: 'completed', startedAt: run.processedOn, attempt: 1 });
  });

  it("keeps a retried run's first start as its schedule's last run, while the job says when its latest attempt started", async () => {
    const job = jobs[0] as JobDefinition;
    await schedule('retried', job, 'allow', { failTimes: 2 });
    const id = scheduledRunId('retried', tickOf());
    await add(job, id, { failTimes: 2 });

    const run = await finished(job, id);
    const [first, second, third] = handled.filter((entry) => entry.id === id).map((entry) => entry.start);
    const lastRun = (await store.lastRuns(['retried'])).get('retried');
    expect(lastRun).toMatchObject({ runId: id, state: 'completed', attempt: 3 });
    expect(lastRun?.startedAt).toBeLessThanOrEqual(first as number);
    expect(run.processedOn).toBeGreaterThan(second as number);
    expect(run.processedOn).toBeLessThanOrEqual(third as number);
  });

  it("skips a tick whose previous run still holds the schedule's overlap lock", async () => {
    const job = jobs[1] as JobDefinition;
    await schedule('skip-overlap', job, 'skip');
    const [first, second] = [scheduledRunId('skip-overlap', tickOf()), scheduledRunId('skip-overlap', tickOf())];
    await add(job, first, { ms: 1500 });
    const deadline = Date.now() + 10_000;
    while ((await queues.queueOf(job).getJobState(first)) !== 'active' || !handled.some((entry) => entry.id === first)) {
      if (Date.now() > deadline) throw new Error(`${first} did not start within 10 s`);
      await sleep(20);
    }
    await add(job, second);

    expect((await finished(job, second)).returnvalue).toEqual({ skipped: 'overlap' });
    expect((await finished(job, first)).returnvalue).toBe('ran');
    expect((await store.lastRuns(['skip-overlap'])).get('skip-overlap')).toMatchObject({ runId: first, state: 'completed' });
  });
});

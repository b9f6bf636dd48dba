import { apiScheduleRecord, createJobRegistry, createLogger, createRedis, defineJob, jobOptionsFor, QueueSet, scheduledRunId, ScheduleStore } from '@drumline/core/runtime';
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ReplicatedRedis } from '@drumline/test-redis';
import { JobRunner } from '../src/job-runner.js';
import { gateScheduledRuns, ScheduleGate } from '../src/schedule-gate.js';

// REDIS_WAIT_REPLICAS on the worker, against a real primary and replica: a tick's handler starts
// only once the replica holds its claim, so that a failover to that replica cannot run it again.
const prefix = 'replica-acks';
const started: { id: string; attempt: number }[] = [];
const report = defineJob({
  name: 'report',
  queue: 'acked',
  schema: z.object({}),
  handler(_data, { jobId, attempt }) {
    started.push({ id: jobId, attempt });
    return 'ran';
  },
});
const registry = createJobRegistry([report]);
let topology: ReplicatedRedis;
let redis: ReturnType<typeof createRedis>;
let queues: QueueSet;
let worker: Worker;

beforeAll(async () => {
  topology = await ReplicatedRedis.start({ replicas: 1 });
  redis = createRedis({ REDIS_URL: topology.primary.url });
  queues = new QueueSet(registry, redis, prefix);
  await new ScheduleStore(redis, prefix).putFromApi(apiScheduleRecord(registry, 'nightly', { job: 'report', every: '1h' }));
  const gateConnection = createRedis({ REDIS_URL: topology.primary.url }, { enableAutoPipelining: true });
  const gate = new ScheduleGate(gateConnection, prefix, { overlapLockMs: 5000, tickClaimSeconds: 60, replicaAcks: { replicas: 1, timeoutMs: 1500 } });
  const runner = new JobRunner({ registry, logger: createLogger({ app: 'test', level: 'silent' }), beforeScheduledRun: gateScheduledRuns(gate) });
  worker = new Worker('acked', runner.process, { connection: createRedis({ REDIS_URL: topology.primary.url }), prefix, concurrency: 2 });
  await worker.waitUntilReady();
});

afterAll(async () => {
  topology?.replicas[0]?.resume();
  await worker?.close();
  await queues?.close();
  await topology?.destroy();
});

describe('a tick claim the replicas must confirm', () => {
  it('runs the tick at once while the replica keeps up, and the replica holds its claim', async () => {
    const id = scheduledRunId('nightly', Date.now() - 100);
    await queues.queueOf(report).add('report', {}, { ...jobOptionsFor(report), jobId: id });
    await expect.poll(() => started.filter((run) => run.id === id).length, { timeout: 10_000 }).toBe(1);
    const claim = await topology.replicas[0]!.ask((client) => client.get(`${prefix}:drumline:tick:${id}`));
    expect(claim).not.toBeNull();
  });

  it('does not start a tick while the replica is stalled; it waits without spending an attempt and runs once when the replica is back', async () => {
    const id = scheduledRunId('nightly', Date.now() - 50);
    const queue = queues.queueOf(report);
    topology.replicas[0]!.pause();
    try {
      await queue.add('report', {}, { ...jobOptionsFor(report), jobId: id });
      // Claimed, refused for want of the replica, and put back: delayed, not failed.
      await expect.poll(async () => (await queue.getJob(id))?.delay ?? 0, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(await queue.getJobState(id)).toBe('delayed');
      expect(started.filter((run) => run.id === id)).toEqual([]);
    } finally {
      topology.replicas[0]!.resume();
    }
    await expect.poll(() => started.filter((run) => run.id === id), { timeout: 15_000 }).toEqual([{ id, attempt: 1 }]);
    // Its handler has started; its completion (settled with the replicas first) follows.
    await expect.poll(() => queue.getJobState(id), { timeout: 10_000 }).toBe('completed');
    expect(started.filter((run) => run.id === id)).toEqual([{ id, attempt: 1 }]);
  });

  it('a completed tick whose completion a failover lost is turned away as a duplicate when it comes back, not run again', async () => {
    const id = scheduledRunId('nightly', Date.now() - 20);
    const queue = queues.queueOf(report);
    await queue.add('report', {}, { ...jobOptionsFor(report), jobId: id });
    await expect.poll(() => queue.getJobState(id), { timeout: 10_000 }).toBe('completed');
    const claim = await topology.replicas[0]!.ask((client) => client.get(`${prefix}:drumline:tick:${id}`));
    expect(claim).toMatch(/^done:/);
    // As if the replica promoted had the run but not its completion: the job is back in wait.
    await (await queue.getJob(id))!.retry('completed');
    await expect.poll(async () => (await queue.getJob(id))?.returnvalue, { timeout: 10_000 }).toEqual({ skipped: 'duplicate' });
    expect(started.filter((run) => run.id === id)).toEqual([{ id, attempt: 1 }]);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { QueueSet } from '@drumline/core/runtime';
import { Queue } from 'bullmq';
import { registry, startBareWorker, startWorkerApp, stopAll, waitForWorkers } from '../support/apps.js';
import type { NodeProcess } from '../support/node-process.js';
import type { RedisServer } from '../support/redis-server.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { median, medianPairedRatio, percentile, round } from '../support/stats.js';

// Flow control (tests/jobs/src/flow-jobs.ts): `sync-tenant` runs at most 2 at once per tenant.
const PREFIX = 'bench-flow';
const QUEUE = 'flow';
const CONCURRENCY = 10;

interface Finished {
  enqueuedAt: number;
  startedAt: number;
  finishedAt: number;
  tenantId: string;
}

/** Every job of the flow queue once `count` have completed, with when each was enqueued and when its handler ran. */
async function waitForAll(redis: RedisServer, queue: Queue, count: number, workers: NodeProcess[], timeoutMs: number): Promise<Finished[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await queue.getJobCounts('completed', 'failed');
    check(counts.failed === 0, `${counts.failed} job(s) failed`);
    if (counts.completed === count) break;
    for (const worker of workers) check(worker.running, `${worker.name} exited with ${count - (counts.completed ?? 0)} job(s) left:\n${worker.tail()}`);
    check(Date.now() < deadline, `${counts.completed} of ${count} jobs completed in ${timeoutMs / 1000} s`);
    await sleep(50);
  }
  const ids = await redis.client.zrange(`${PREFIX}:${QUEUE}:completed`, 0, -1);
  const pipeline = redis.client.pipeline();
  for (const id of ids) pipeline.hmget(`${PREFIX}:${QUEUE}:${id}`, 'timestamp', 'returnvalue', 'data');
  return ((await pipeline.exec()) ?? []).map(([, row]) => {
    const [timestamp, returned, data] = row as [string, string, string];
    const { startedAt, finishedAt } = JSON.parse(returned) as { startedAt: number; finishedAt: number };
    return { enqueuedAt: Number(timestamp), startedAt, finishedAt, tenantId: (JSON.parse(data) as { tenantId: string }).tenantId };
  });
}

/**
 * One round of throughput: `count` runs pre-filled through Drumline's own enqueue path (QueueSet,
 * as the web enqueues) while the queue is paused, one per tenant so that the limit never binds,
 * then one worker app at concurrency 10; time from the first start to the last finish.
 */
async function throughputOnce(redis: RedisServer, count: number, job: 'sync-tenant' | 'sync-tenant-unlimited'): Promise<{ jobsPerSec: number; cpuMsPer1000Jobs: number }> {
  await redis.flush();
  const queues = new QueueSet(registry, redis.client, PREFIX);
  const queue = queues.queueOf(registry.get(job));
  let worker: NodeProcess | undefined;
  try {
    await queue.pause();
    for (let done = 0; done < count; done += 1000) {
      const items = Array.from({ length: Math.min(1000, count - done) }, (_, index) => ({ data: { tenantId: `t-${done + index}`, sleepMs: 0 } }));
      await queues.addBulk(registry.get(job), items);
    }
    worker = startWorkerApp(redis, PREFIX, CONCURRENCY, `drumline worker (${job})`, QUEUE);
    await waitForWorkers(redis, PREFIX, QUEUE, 1, 15_000, [worker]);
    await sleep(500);
    const cpuBefore = worker.cpuMs();
    await queue.resume();
    const runs = await waitForAll(redis, queue, count, [worker], 180_000);
    const cpuMs = worker.cpuMs() - cpuBefore;
    const started = Math.min(...runs.map((run) => run.startedAt));
    const finished = Math.max(...runs.map((run) => run.finishedAt));
    return { jobsPerSec: (count * 1000) / Math.max(1, finished - started), cpuMsPer1000Jobs: (cpuMs * 1000) / count };
  } finally {
    await stopAll([worker]);
    await queues.close();
  }
}

export const flowThroughput: Scenario = {
  name: 'flow-throughput',
  target: 'jobs/s ratio (keyed job with a limit that never binds ÷ the same job without) >= 0.80',
  async run({ redis, quick, log }: BenchContext): Promise<Measured> {
    const count = quick ? 3000 : 10_000;
    const repeats = quick ? 1 : 5;
    const keyed: number[] = [];
    const plain: number[] = [];
    const keyedCpu: number[] = [];
    const plainCpu: number[] = [];
    for (let round_ = 1; round_ <= repeats; round_ += 1) {
      const order = round_ % 2 === 1 ? (['sync-tenant', 'sync-tenant-unlimited'] as const) : (['sync-tenant-unlimited', 'sync-tenant'] as const);
      for (const job of order) {
        const { jobsPerSec, cpuMsPer1000Jobs } = await throughputOnce(redis, count, job);
        (job === 'sync-tenant' ? keyed : plain).push(jobsPerSec);
        (job === 'sync-tenant' ? keyedCpu : plainCpu).push(cpuMsPer1000Jobs);
        log(`  round ${round_} ${job}: ${round(jobsPerSec, 0)} jobs/s, ${round(cpuMsPer1000Jobs, 0)} CPU ms per 1000 jobs`);
      }
    }
    const ratio = round(medianPairedRatio(keyed, plain), 3);
    return {
      drumline: { jobsPerSec: round(median(keyed), 0), cpuMsPer1000Jobs: round(median(keyedCpu), 0), runsJobsPerSec: keyed.map((value) => round(value, 0)), jobs: count },
      baseline: { jobsPerSec: round(median(plain), 0), cpuMsPer1000Jobs: round(median(plainCpu), 0), runsJobsPerSec: plain.map((value) => round(value, 0)), jobs: count },
      ratio,
      ratioOf: 'median over the rounds of sync-tenant jobs/s ÷ sync-tenant-unlimited jobs/s in the same round',
      pass: ratio >= 0.8,
      ...(ratio < 0.8 ? { missed: `ratio ${ratio} < 0.80` } : {}),
      summary: {
        drumline: `${round(median(keyed), 0)} jobs/s, ${round(median(keyedCpu), 0)} CPU ms/1000 jobs (concurrency limit 2 per tenant)`,
        baseline: `${round(median(plain), 0)} jobs/s, ${round(median(plainCpu), 0)} CPU ms/1000 jobs (no limit)`,
      },
      method:
        `${count} runs of one job, each of its own tenant (so the limit of 2 per tenant never binds), enqueued through QueueSet (the web's path: ` +
        `admission at enqueue included) onto a paused queue, then one apps/worker at concurrency ${CONCURRENCY}; time = last handler end − first handler start. ` +
        `sync-tenant (concurrency { key: tenantId, limit: 2 }) against sync-tenant-unlimited, the same schema and handler without the limit. ` +
        `${repeats} round(s), order alternating; the ratio is the median of the rounds' ratios. The cost measured: a Lua call at enqueue, one before the handler, one after.`,
    };
  },
};

interface FairnessRun {
  /** Each quiet tenant's run: handler start − enqueue, ms. */
  quietWaitsMs: number[];
  floodMs: number;
}

/**
 * Ten tenants on one queue served by two workers: tenant `flood` enqueues `floodCount` runs at once,
 * then the nine others one run a second each for `seconds` s. On Drumline the flood waits in its
 * tenant's line (at most 2 at once); on bare BullMQ it is simply ahead of everyone in the queue.
 */
async function fairnessOnce(redis: RedisServer, side: 'drumline' | 'baseline', floodCount: number, seconds: number): Promise<FairnessRun> {
  await redis.flush();
  const queues = new QueueSet(registry, redis.client, PREFIX);
  const job = registry.get('sync-tenant');
  const queue = queues.queueOf(job);
  const start = side === 'drumline' ? startWorkerApp : startBareWorker;
  const workers = [start(redis, PREFIX, CONCURRENCY, `${side} worker 1`, QUEUE), start(redis, PREFIX, CONCURRENCY, `${side} worker 2`, QUEUE)];
  const add = (items: { data: { tenantId: string; sleepMs: number } }[]) =>
    // The baseline gets the same jobs without Drumline's admission: bare BullMQ, as a team would write it.
    side === 'drumline' ? queues.addBulk(job, items) : queue.addBulk(items.map((item) => ({ name: job.name, data: item.data, opts: { removeOnComplete: false } })));
  try {
    await waitForWorkers(redis, PREFIX, QUEUE, 2, 15_000, workers);
    const floodStarted = Date.now();
    for (let done = 0; done < floodCount; done += 1000) {
      await add(Array.from({ length: Math.min(1000, floodCount - done) }, () => ({ data: { tenantId: 'flood', sleepMs: 2 } })));
    }
    for (let second = 0; second < seconds; second += 1) {
      await add(Array.from({ length: 9 }, (_, tenant) => ({ data: { tenantId: `quiet-${tenant}`, sleepMs: 2 } })));
      await sleep(1000);
    }
    const runs = await waitForAll(redis, queue, floodCount + 9 * seconds, workers, 600_000);
    const quietWaitsMs = runs.filter((run) => run.tenantId !== 'flood').map((run) => run.startedAt - run.enqueuedAt);
    const floodMs = Math.max(...runs.filter((run) => run.tenantId === 'flood').map((run) => run.finishedAt)) - floodStarted;
    return { quietWaitsMs, floodMs };
  } finally {
    await stopAll(workers);
    await queues.close();
  }
}

export const flowFairness: Scenario = {
  name: 'flow-fairness',
  target: "the quiet tenants' p99 wait (enqueue to start) < 1000 ms while one tenant floods",
  async run({ redis, quick, log }: BenchContext): Promise<Measured> {
    const floodCount = quick ? 2000 : 10_000;
    const seconds = quick ? 5 : 15;
    const drumline = await fairnessOnce(redis, 'drumline', floodCount, seconds);
    log(`  drumline: quiet p99 ${round(percentile(drumline.quietWaitsMs, 99), 0)} ms, flood done in ${round(drumline.floodMs / 1000, 1)} s`);
    const baseline = await fairnessOnce(redis, 'baseline', floodCount, seconds);
    log(`  baseline: quiet p99 ${round(percentile(baseline.quietWaitsMs, 99), 0)} ms, flood done in ${round(baseline.floodMs / 1000, 1)} s`);
    const figures = (run: FairnessRun) => ({
      quietWaitP50Ms: round(percentile(run.quietWaitsMs, 50), 0),
      quietWaitP99Ms: round(percentile(run.quietWaitsMs, 99), 0),
      quietWaitMaxMs: round(Math.max(...run.quietWaitsMs), 0),
      quietRuns: run.quietWaitsMs.length,
      floodRuns: floodCount,
      floodDoneS: round(run.floodMs / 1000, 1),
    });
    const d = figures(drumline);
    const b = figures(baseline);
    const ratio = round(b.quietWaitP99Ms / Math.max(1, d.quietWaitP99Ms), 3);
    return {
      drumline: d,
      baseline: b,
      ratio,
      ratioOf: "baseline quiet-tenant p99 wait ÷ Drumline quiet-tenant p99 wait (how many times less the others wait)",
      pass: d.quietWaitP99Ms < 1000,
      ...(d.quietWaitP99Ms >= 1000 ? { missed: `quiet p99 ${d.quietWaitP99Ms} ms >= 1000 ms` } : {}),
      summary: {
        drumline: `quiet tenants p99 wait ${d.quietWaitP99Ms} ms (max ${d.quietWaitMaxMs} ms); flood of ${floodCount} done in ${d.floodDoneS} s`,
        baseline: `quiet tenants p99 wait ${b.quietWaitP99Ms} ms (max ${b.quietWaitMaxMs} ms); flood done in ${b.floodDoneS} s`,
      },
      method:
        `Two worker processes at concurrency ${CONCURRENCY} on one queue; tenant 'flood' enqueues ${floodCount} runs of sync-tenant (2 ms handler) at once, ` +
        `in bulks of 1000, then 9 other tenants enqueue one run each every second for ${seconds} s. Wait = handler start − enqueue timestamp. ` +
        `Drumline: apps/worker with sync-tenant's concurrency { key: tenantId, limit: 2 }, enqueued through QueueSet (the web's path, with admission); ` +
        `baseline: bare BullMQ workers on the same jobs added with queue.addBulk, no per-key limit (BullMQ's groups are in its paid Pro edition).`,
    };
  },
};

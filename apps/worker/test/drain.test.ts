import { closeRedis, createJobRegistry, createLogger, createMetricsRegistry, createRunMetrics, defineJob, QueueSet, scheduledRunId } from '@drumline/core/runtime';
import { QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { drain } from '../src/drain.js';
import { JobRunner } from '../src/job-runner.js';
import { admitEveryRun } from '../src/scheduled-run-gate.js';

const QUEUE = 'drain';
const prefix = uniquePrefix('worker-drain');
const logger = createLogger({ app: 'worker-test', level: 'silent' });

/** One expected run of `hold`: resolves `started` once its handler runs, and `finish()` lets it return. */
interface HeldRun {
  started: Promise<AbortSignal>;
  finish: () => void;
}
const waiting = new Map<string, (run: { signal: AbortSignal; finish: () => void }) => void>();

/** Call before the run can start; `key` is the payload's. */
function expectRun(key: string): HeldRun {
  let finish = () => undefined as void;
  const started = new Promise<AbortSignal>((resolve) => {
    waiting.set(key, (run) => {
      finish = run.finish;
      resolve(run.signal);
    });
  });
  return { started, finish: () => finish() };
}

const hold = defineJob({
  name: 'hold',
  queue: QUEUE,
  schema: z.object({ key: z.string() }),
  async handler({ key }, { signal, attempt }) {
    // Never resolves on abort: a handler that ignores its signal must not hold the shutdown up.
    await new Promise<void>((resolve) => waiting.get(key)?.({ signal, finish: resolve }));
    return { key, attempt };
  },
});

const registry = createJobRegistry([hold]);
let redis: ReturnType<typeof connectTestRedis>;
let eventsConnection: ReturnType<typeof connectTestRedis>;
let queues: QueueSet;
let events: QueueEvents;
const workers: Worker[] = [];
const metrics = createRunMetrics(createMetricsRegistry('worker-test'));
/** drumline_runs_total of `hold` by outcome: an attempt given back at shutdown counts in none. */
const outcomes = () => {
  const { completed, failed, retried, skipped } = metrics.of('hold');
  return { completed, failed, retried, skipped };
};

function startWorker(): { worker: Worker; runner: JobRunner } {
  const runner = new JobRunner({ registry, logger, beforeScheduledRun: admitEveryRun, metrics });
  const worker = new Worker(QUEUE, runner.process, { connection: redis, prefix, concurrency: 2 });
  workers.push(worker);
  return { worker, runner };
}

beforeAll(async () => {
  redis = connectTestRedis();
  eventsConnection = connectTestRedis();
  queues = new QueueSet(registry, redis, prefix);
  events = new QueueEvents(QUEUE, { connection: eventsConnection, prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close(true)));
  await events?.close();
  await queues?.close();
  if (redis) {
    await deleteKeys(redis, prefix);
    await closeRedis(redis);
  }
  if (eventsConnection) await closeRedis(eventsConnection);
});

describe('drain', () => {
  it('lets a running job that finishes within the grace period complete, then closes the worker', async () => {
    const { worker, runner } = startWorker();
    const run = expectRun('quick');
    const job = await queues.enqueue('hold', { key: 'quick' });
    const signal = await run.started;

    const drained = drain([worker], runner, 10_000, logger);
    run.finish();

    expect(await drained).toBe('finished');
    expect(await job.waitUntilFinished(events, 5_000)).toEqual({ key: 'quick', attempt: 1 });
    expect(worker.closing).toBeTruthy();
    expect(signal.aborted).toBe(false);
  });

  it('aborts a job still running when the grace period ends and puts it back in its queue, without spending an attempt', async () => {
    const before = outcomes();
    const first = startWorker();
    const firstRun = expectRun('slow');
    const job = await queues.enqueue('hold', { key: 'slow' });
    const signal = await firstRun.started;

    expect(await drain([first.worker], first.runner, 200, logger)).toBe('requeued');

    expect(signal.aborted).toBe(true);
    expect(signal.reason).toMatchObject({ name: 'WorkerShutdownError', code: 'DRUMLINE_WORKER_SHUTDOWN' });
    const requeued = await queues.findRun('hold', job.id ?? '');
    expect(await requeued?.getState()).toBe('waiting');
    expect(requeued?.attemptsMade).toBe(0);
    // Given back, not failed: neither a retried attempt nor a failure is counted.
    expect(outcomes()).toEqual(before);

    // The next worker takes it at once, and it counts as the first attempt.
    const secondRun = expectRun('slow');
    const second = startWorker();
    await secondRun.started;
    secondRun.finish();
    expect(await job.waitUntilFinished(events, 5_000)).toEqual({ key: 'slow', attempt: 1 });
    await second.worker.close();
  });

  it('gives a scheduled run it holds until its tick back to waiting when the grace period ends, its attempts unchanged', async () => {
    const before = outcomes();
    const { worker, runner } = startWorker();
    // Picked up ahead of its tick, as a promoted run is: the worker holds it (held runs wait at most 2 s).
    const job = await queues.enqueue('hold', { key: 'held' }, { jobId: scheduledRunId('held-at-shutdown', Date.now() + 1_900) });
    await expect.poll(() => job.getState(), { timeout: 10_000, interval: 10 }).toBe('active');

    expect(await drain([worker], runner, 50, logger)).toBe('requeued');

    const requeued = await queues.findRun('hold', job.id ?? '');
    expect(await requeued?.getState()).toBe('waiting');
    expect(requeued?.attemptsMade).toBe(0);
    expect(requeued?.attemptsStarted).toBe(1);
    expect(outcomes()).toEqual(before);
    await requeued?.remove();
  });
});

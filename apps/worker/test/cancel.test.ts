import { closeRedis, createJobRegistry, defineJob, drumlineKeys, jobOptionsFor, QueueSet } from '@drumline/core/runtime';
import { QueueEvents, Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { listenForCancels } from '../src/cancel-listener.js';
import { JobRunner } from '../src/job-runner.js';
import { admitEveryRun } from '../src/scheduled-run-gate.js';
import { recordingLogger } from './recording-logger.js';

const QUEUE = 'cancels';
const prefix = uniquePrefix('worker-cancel');
const signals: AbortSignal[] = [];

const polite = defineJob({
  name: 'polite',
  queue: QUEUE,
  schema: z.object({}),
  attempts: 3,
  async handler(_data, { signal }) {
    signals.push(signal);
    await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
  },
});

/** One per deaf handler that has started: calling it lets that handler go. */
const deafHandlers: (() => void)[] = [];
const deaf = defineJob({
  name: 'deaf',
  queue: QUEUE,
  schema: z.object({}),
  attempts: 3,
  async handler() {
    // Ignores its signal on purpose, until the test lets it go.
    await new Promise<void>((resolve) => deafHandlers.push(resolve));
  },
});
const releaseDeaf = () => deafHandlers.forEach((release) => release());

const { logger, lines } = recordingLogger();
const registry = createJobRegistry([polite, deaf]);
const redis = connectTestRedis();
const subscriber = connectTestRedis();
const eventsConnection = connectTestRedis();
const queues = new QueueSet(registry, redis, prefix);
const events = new QueueEvents(QUEUE, { connection: eventsConnection, prefix });
const runner = new JobRunner({ registry, logger, beforeScheduledRun: admitEveryRun, cancelGraceMs: 300 });
let worker: Worker;

beforeAll(async () => {
  worker = new Worker(QUEUE, runner.process, { connection: connectTestRedis(), prefix, concurrency: 5 });
  await Promise.all([worker.waitUntilReady(), events.waitUntilReady(), listenForCancels(subscriber, drumlineKeys(prefix), runner, logger)]);
});

afterAll(async () => {
  releaseDeaf();
  // Settles a run a failed test left waiting for its cancel, which closing the worker would wait for.
  runner.stopAll(new Error('the test file is done'));
  await worker.close();
  await events.close();
  await queues.close();
  await deleteKeys(redis, prefix);
  await Promise.all([closeRedis(redis), closeRedis(subscriber), closeRedis(eventsConnection)]);
});

async function activeRun(name: 'polite' | 'deaf') {
  const job = registry.get(name);
  const run = await queues.queueOf(job).add(name, {}, jobOptionsFor(job));
  await expect.poll(() => run.getState(), { timeout: 10_000 }).toBe('active');
  return run;
}

/** Whether the runner reported the run's handler as ignoring its cancel signal. */
const reportedDeaf = (runId: string) => lines.some((line) => line.runId === runId && String(line.msg).startsWith('the handler ignores its cancel signal'));

async function untilFailed(job: Job): Promise<void> {
  await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('failed');
}

const publishCancel = (runId: string) => redis.publish(drumlineKeys(prefix).runCancels, JSON.stringify({ queue: QUEUE, runId, reason: 'test' }));

describe('cancelling an active run through the channel', () => {
  it('aborts its signal with the reason and fails it for good on the first attempt', async () => {
    const run = await activeRun('polite');
    await publishCancel(run.id as string);
    await run.waitUntilFinished(events).catch(() => undefined);
    const finished = await queues.queueOf(polite).getJob(run.id as string);
    expect(await finished?.getState()).toBe('failed');
    expect(finished?.failedReason).toBe('cancelled: test');
    expect(finished?.attemptsMade).toBe(1);
    expect(signals.at(-1)?.aborted).toBe(true);
  });

  it('reports a handler that ignores its signal after the grace period, and still ends the attempt at once', async () => {
    const run = await activeRun('deaf');
    await publishCancel(run.id as string);
    await run.waitUntilFinished(events).catch(() => undefined);
    expect(await run.getState()).toBe('failed');
    await expect.poll(() => reportedDeaf(run.id as string), { timeout: 5_000 }).toBe(true);
  });

  it('ignores a request for a run this process does not hold, and one that is not JSON', async () => {
    await redis.publish(drumlineKeys(prefix).runCancels, 'not json');
    expect(runner.cancel(QUEUE, 'no-such-run', 'test')).toBe(false);
    await expect.poll(() => lines.some((line) => line.msg === 'ignoring a cancel request that is not JSON'), { timeout: 5_000 }).toBe(true);
  });

  it('cancels only the run it names, by queue and id, and says whether this process held it', async () => {
    const started = signals.length;
    const run = await activeRun('polite');
    await expect.poll(() => signals.length, { timeout: 5_000 }).toBe(started + 1);
    expect(runner.cancel(QUEUE, 'another-run', 'test')).toBe(false);
    expect(runner.cancel('another-queue', run.id as string, 'test')).toBe(false);
    expect(signals.at(-1)?.aborted).toBe(false);
    expect(await run.getState()).toBe('active');

    expect(runner.cancel(QUEUE, run.id as string, 'test')).toBe(true);
    await untilFailed(run);
    expect((await queues.queueOf(polite).getJob(run.id as string))?.failedReason).toBe('cancelled: test');
  });
});

describe('a runner given its own cancelGraceMs', () => {
  it('reports a cancelled handler still running that long after, and not one that heeded its signal', async () => {
    // A runner of its own, made here rather than at load time, where Stryker would see no test run its constructor.
    const ownPrefix = uniquePrefix('worker-cancel-grace');
    const ownQueues = new QueueSet(registry, redis, ownPrefix);
    const ownRunner = new JobRunner({ registry, logger, beforeScheduledRun: admitEveryRun, cancelGraceMs: 200 });
    const ownWorker = new Worker(QUEUE, ownRunner.process, { connection: connectTestRedis(), prefix: ownPrefix, concurrency: 2 });
    try {
      const [signalsBefore, deafBefore] = [signals.length, deafHandlers.length];
      const heeding = await ownQueues.enqueue('polite', {}, { jobId: 'grace-polite' });
      const ignoring = await ownQueues.enqueue('deaf', {}, { jobId: 'grace-deaf' });
      await expect.poll(() => [signals.length, deafHandlers.length], { timeout: 10_000 }).toEqual([signalsBefore + 1, deafBefore + 1]);

      // The heeding handler's report would fall due first: its grace starts before the other's.
      expect(ownRunner.cancel(QUEUE, 'grace-polite', 'test')).toBe(true);
      await untilFailed(heeding);
      expect(ownRunner.cancel(QUEUE, 'grace-deaf', 'test')).toBe(true);
      await untilFailed(ignoring);
      await expect.poll(() => reportedDeaf('grace-deaf'), { timeout: 5_000 }).toBe(true);
      expect(reportedDeaf('grace-polite')).toBe(false);
    } finally {
      releaseDeaf();
      ownRunner.stopAll(new Error('the test is done'));
      await ownWorker.close();
      await ownQueues.close();
      await deleteKeys(redis, ownPrefix);
    }
  });
});

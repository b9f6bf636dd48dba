import { closeRedis, createJobRegistry, defineJob, drumlineKeys, jobOptionsFor, QueueSet } from '@drumline/core/runtime';
import { QueueEvents, Worker } from 'bullmq';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { listenForCancels } from '../src/cancel-listener.js';
import { JobRunner } from '../src/job-runner.js';
import { admitEveryRun } from '../src/scheduled-run-gate.js';

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

let releaseDeaf: () => void = () => undefined;
const deaf = defineJob({
  name: 'deaf',
  queue: QUEUE,
  schema: z.object({}),
  attempts: 3,
  async handler() {
    // Ignores its signal on purpose, until the test lets it go.
    await new Promise<void>((resolve) => (releaseDeaf = resolve));
  },
});

const lines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  }),
);
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
    await expect.poll(() => lines.some((line) => line.runId === run.id && String(line.msg).startsWith('the handler ignores its cancel signal')), { timeout: 5_000 }).toBe(true);
  });

  it('ignores a request for a run this process does not hold, and one that is not JSON', async () => {
    await redis.publish(drumlineKeys(prefix).runCancels, 'not json');
    expect(runner.cancel(QUEUE, 'no-such-run', 'test')).toBe(false);
    await expect.poll(() => lines.some((line) => line.msg === 'ignoring a cancel request that is not JSON'), { timeout: 5_000 }).toBe(true);
  });
});

import { closeRedis, createJobRegistry, defineJob, drumlineKeys, flowReservationOf, HEAD_RECHECK_MS, QueueSet } from '@drumline/core/runtime';
import { Worker, type Job } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { FlowGate } from '../src/flow-gate.js';
import { JobRunner } from '../src/job-runner.js';
import { admitEveryRun } from '../src/scheduled-run-gate.js';
import { recordingLogger } from './recording-logger.js';
import { mostAtOnce } from '../../../tests/support/intervals.js';

// The worker's flow control in process, on real BullMQ workers and Redis: two workers share each
// limit, as two processes would. tests/e2e/flow-control.test.ts runs it across built processes.
const prefix = uniquePrefix('worker-flow-gate');
const QUEUE = 'flow-gate';
const HOLD_MS = 600;

interface Timed {
  startedAt: number;
  finishedAt: number;
}

const timed = async (sleepMs: number): Promise<Timed> => {
  const startedAt = Date.now();
  await sleep(sleepMs);
  return { startedAt, finishedAt: Date.now() };
};

const limited = defineJob({
  name: 'limited',
  queue: QUEUE,
  schema: z.object({ key: z.string(), sleepMs: z.number().int().default(30) }),
  concurrency: { key: (data) => data.key, limit: 2 },
  attempts: 1,
  handler: ({ sleepMs }) => timed(sleepMs),
});

const single = defineJob({
  name: 'single',
  queue: QUEUE,
  schema: z.object({ sleepMs: z.number().int() }),
  concurrency: { limit: 1 },
  attempts: 1,
  handler: ({ sleepMs }) => timed(sleepMs),
});

const rated = defineJob({
  name: 'rated',
  queue: QUEUE,
  schema: z.object({ key: z.string() }),
  rateLimit: { max: 3, perMs: 500, key: (data) => data.key },
  attempts: 1,
  handler: () => timed(0),
});

// On a queue of its own, served by a worker whose places last longer than one taken at enqueue
// (WORKER_LOCK_MS at its default): its runs may start on the place they took at enqueue.
const RESERVED_QUEUE = 'flow-gate-reserved';
const reserved = defineJob({
  name: 'reserved',
  queue: RESERVED_QUEUE,
  schema: z.object({ sleepMs: z.number().int() }),
  concurrency: { limit: 1 },
  attempts: 1,
  handler: ({ sleepMs }) => timed(sleepMs),
});

/** Under both limits at once; fails its first attempt when told to, so that a retry asks again. */
const attemptStarts = new Map<string, number[]>();
const both = defineJob({
  name: 'both',
  queue: QUEUE,
  schema: z.object({ key: z.string(), failFirst: z.boolean().default(false) }),
  concurrency: { key: (data) => data.key, limit: 1 },
  rateLimit: { max: 1, perMs: 800, key: (data) => data.key },
  attempts: 2,
  backoff: { type: 'fixed', delayMs: 0 },
  handler: async ({ failFirst }, { jobId, attempt }) => {
    attemptStarts.set(jobId, [...(attemptStarts.get(jobId) ?? []), Date.now()]);
    if (failFirst && attempt === 1) throw new Error('first attempt fails');
    return timed(0);
  },
});

const registry = createJobRegistry([limited, single, rated, reserved, both]);
const keys = drumlineKeys(prefix);
const { logger, lines } = recordingLogger({ app: 'flow-gate-test' });
logger.level = 'debug';
const waits: string[] = [];

let redis: ReturnType<typeof connectTestRedis>;
let queues: QueueSet;
const gates: FlowGate[] = [];
const workers: Worker[] = [];

beforeAll(async () => {
  redis = connectTestRedis();
  queues = new QueueSet(registry, redis, prefix);
  for (let index = 0; index < 2; index += 1) {
    const connection = connectTestRedis();
    const gate = new FlowGate(connection, prefix, { holdMs: HOLD_MS, onWait: (job, limit) => waits.push(`${job}:${limit}`) });
    gates.push(gate);
    const runner = new JobRunner({ registry, logger, beforeScheduledRun: admitEveryRun, flowGate: gate });
    workers.push(new Worker(QUEUE, runner.process, { connection, prefix, concurrency: 5 }));
  }
  const connection = connectTestRedis();
  const gate = new FlowGate(connection, prefix, { holdMs: 40_000 });
  gates.push(gate);
  const runner = new JobRunner({ registry, logger, beforeScheduledRun: admitEveryRun, flowGate: gate });
  workers.push(new Worker(RESERVED_QUEUE, runner.process, { connection, prefix, concurrency: 5 }));
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close()));
  await Promise.all(gates.map((gate) => gate.close()));
  await queues.close();
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

async function finished(runs: readonly Job[], timeout = 30_000, queue = queues.queueOf(limited)): Promise<Timed[]> {
  await expect.poll(async () => (await Promise.all(runs.map((run) => queue.getJobState(run.id as string)))).filter((state) => state !== 'completed').length, { timeout, interval: 50 }).toBe(0);
  const read = await Promise.all(runs.map((run) => queue.getJob(run.id as string)));
  for (const run of read) expect(run?.attemptsMade, run?.id).toBe(1);
  return read.map((run) => run?.returnvalue as Timed);
}

describe('concurrency: { key, limit: 2 } over two workers', () => {
  it('runs at most 2 of a key at once, the rest waiting delayed with their attempts unspent, and every run once in enqueue order', async () => {
    const runs: Job[] = [];
    for (let index = 0; index < 8; index += 1) runs.push(await queues.add(limited, { key: 'order', sleepMs: 60 }));
    // The third and later were put in line at enqueue: delayed, no attempt made.
    expect(await runs[2]?.getState()).toBe('delayed');
    const timings = await finished(runs);
    expect(mostAtOnce(timings)).toBeLessThanOrEqual(2);
    expect(mostAtOnce(timings)).toBe(2);
    for (let index = 2; index < timings.length; index += 1) expect(timings[index]?.startedAt, String(index)).toBeGreaterThanOrEqual(timings[index - 2]?.startedAt as number);
    // Each run ended gives its place back: nothing is held once they are done.
    expect(await redis.zcard(keys.flow('limited', 'concurrency', 'order').slots)).toBe(0);
  });

  it('counts each run put in line by a worker in drumline_flow_waits_total, and holds no other key back', async () => {
    const before = waits.length;
    const busy = await Promise.all([0, 1].map(() => queues.add(limited, { key: 'busy', sleepMs: 400 })));
    await expect.poll(() => Promise.all(busy.map((run) => run.getState())), { timeout: 10_000, interval: 20 }).toEqual(['active', 'active']);
    // Added behind the admission's back (a run enqueued delayed is judged when due), so a worker puts it in line.
    const third = await queues.add(limited, { key: 'busy', sleepMs: 0 }, { delay: 1 });
    const other = await queues.add(limited, { key: 'quiet', sleepMs: 0 });
    const [otherTimed] = await finished([other]);
    const [thirdTimed, ...busyTimed] = await finished([third, ...busy]);
    expect(waits.slice(before)).toContain('limited:concurrency');
    expect(otherTimed?.startedAt).toBeLessThan(Math.max(...busyTimed.map((run) => run.finishedAt)));
    expect(thirdTimed?.startedAt).toBeGreaterThanOrEqual(Math.min(...busyTimed.map((run) => run.finishedAt)));
  });

  it("lets a dead worker's places lapse after holdMs: the run waiting for them starts once they have", async () => {
    const slots = keys.flow('limited', 'concurrency', 'ghosts').slots;
    // Two places held by a worker that died without giving them back.
    const lapse = Date.now() + HOLD_MS;
    await redis.zadd(slots, lapse, 'ghost-1', lapse, 'ghost-2');
    const run = await queues.add(limited, { key: 'ghosts', sleepMs: 0 });
    expect(await run.getState()).toBe('delayed');
    const [timing] = await finished([run], HOLD_MS + 5 * HEAD_RECHECK_MS);
    expect(timing?.startedAt).toBeGreaterThanOrEqual(lapse);
  });

  it('keeps the place of a run that outlives holdMs, renewing it: the next run starts only after it ended', async () => {
    const long = await queues.add(single, { sleepMs: 3 * HOLD_MS });
    await expect.poll(() => long.getState(), { timeout: 10_000, interval: 20 }).toBe('active');
    const next = await queues.add(single, { sleepMs: 0 });
    const [longTimed, nextTimed] = await finished([long, next]);
    expect(nextTimed?.startedAt).toBeGreaterThanOrEqual(longTimed?.finishedAt as number);
  });

  it('drops a removed run from the line when a place frees, and wakes the one behind it', async () => {
    const busy = await Promise.all([0, 1].map(() => queues.add(limited, { key: 'removed', sleepMs: 300 })));
    const removed = await queues.add(limited, { key: 'removed', sleepMs: 0 });
    const behind = await queues.add(limited, { key: 'removed', sleepMs: 0 });
    expect(await removed.getState()).toBe('delayed');
    await removed.remove();
    // Well before a stale entry would be dropped for not asking (90 s): at the first release.
    const timings = await finished([...busy, behind], 10_000);
    expect(timings[2]?.startedAt).toBeGreaterThanOrEqual(Math.min(timings[0]?.finishedAt as number, timings[1]?.finishedAt as number));
    expect(await redis.zscore(keys.flow('limited', 'concurrency', 'removed').line, removed.id as string)).toBeNull();
  });
});

describe('a place taken at enqueue', () => {
  const slots = keys.flow('reserved', 'concurrency', '*').slots;
  const queue = () => queues.queueOf(reserved);

  it('is the run\'s while it runs: a run enqueued meanwhile waits, and starts once the first ended and gave it back', async () => {
    const first = await queues.add(reserved, { sleepMs: 300 });
    const heldUntil = flowReservationOf((await queue().getJob(first.id as string))?.opts ?? {});
    expect(Number(await redis.zscore(slots, first.id as string))).toBe(heldUntil);
    await expect.poll(() => first.getState(), { timeout: 10_000, interval: 20 }).toBe('active');
    // Started on the place it took, without asking again: an ask would have renewed it to holdMs from now.
    expect(Number(await redis.zscore(slots, first.id as string))).toBe(heldUntil);
    const second = await queues.add(reserved, { sleepMs: 0 });
    expect(await second.getState()).toBe('delayed');
    const [firstTimed, secondTimed] = await finished([first, second], 30_000, queue());
    expect(secondTimed?.startedAt).toBeGreaterThanOrEqual(firstTimed?.finishedAt as number);
    expect(await redis.zcard(slots)).toBe(0);
  });

  it('is renewed while its run outlives it, so nobody takes it before the run ends', async () => {
    // A place taken at enqueue a moment before it lapses: the run must renew it in time.
    const heldUntil = Date.now() + 2600;
    const long = await queue().add('reserved', { sleepMs: 3500 }, { jobId: 'about-to-lapse', drumlineFlowHeldUntil: heldUntil } as object);
    await redis.zadd(slots, heldUntil, 'about-to-lapse');
    await expect.poll(() => long.getState(), { timeout: 10_000, interval: 20 }).toBe('active');
    await expect.poll(() => Date.now(), { timeout: 10_000, interval: 100 }).toBeGreaterThan(heldUntil + 200);
    expect(Number(await redis.zscore(slots, 'about-to-lapse'))).toBeGreaterThan(Date.now());
    const next = await queues.add(reserved, { sleepMs: 0 });
    const [longTimed, nextTimed] = await finished([long, next], 30_000, queue());
    expect(nextTimed?.startedAt).toBeGreaterThanOrEqual(longTimed?.finishedAt as number);
  });

  it('that lapsed before its run started is asked for again: with the key full by then, the run waits its turn', async () => {
    await redis.zadd(slots, Date.now() + 60_000, 'someone-else');
    const late = await queue().add('reserved', { sleepMs: 0 }, { jobId: 'lapsed', drumlineFlowHeldUntil: Date.now() - 1 } as object);
    await expect.poll(async () => (await queue().getJob('lapsed'))?.delay ?? 0, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    expect(await late.getState()).toBe('delayed');
    await redis.zrem(slots, 'someone-else');
    await finished([late], 5 * HEAD_RECHECK_MS, queue());
  });
});

describe('rateLimit: { max: 3, perMs: 500, key }', () => {
  it('lets at most 3 runs of a key start in any 500 ms, as the workers counted them, and runs all 10', async () => {
    const runs = await queues.addBulk(rated, Array.from({ length: 10 }, () => ({ data: { key: 'api' } })));
    await finished(runs);
    const ids = new Set(runs.map((run) => run.id));
    const counted = lines.filter((line) => line.msg === 'run let through by its rate limit' && ids.has(line.runId as string)).map((line) => line.countedAt as number);
    expect(counted).toHaveLength(10);
    counted.sort((a, b) => a - b);
    // Any 4 consecutive starts span at least a window.
    for (let index = 3; index < counted.length; index += 1) expect((counted[index] as number) - (counted[index - 3] as number)).toBeGreaterThanOrEqual(500);
  });
});

describe('concurrency and rateLimit together', () => {
  it('gives back the concurrency place of a run its rate limit puts in line, so it holds nothing while it waits', async () => {
    const concurrencySlots = keys.flow('both', 'concurrency', 'pair').slots;
    const [first, second] = await queues.addBulk(both, [{ data: { key: 'pair' } }, { data: { key: 'pair' } }]);
    await finished([first as Job]);
    // The second had its concurrency place, then the rate limit (1 per 800 ms) sent it to wait.
    await expect.poll(async () => (await queues.queueOf(both).getJob(second?.id as string))?.delay ?? 0, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    expect(await second?.getState()).toBe('delayed');
    expect(await redis.zcard(concurrencySlots)).toBe(0);
    const [firstTimed, secondTimed] = await finished([first as Job, second as Job], 10_000);
    expect((secondTimed?.startedAt as number) - (firstTimed?.startedAt as number)).toBeGreaterThanOrEqual(800);
  });

  it('counts a retry as a new start against the rate limit', async () => {
    const run = await queues.add(both, { key: 'retry', failFirst: true });
    const queue = queues.queueOf(both);
    await expect.poll(() => queue.getJobState(run.id as string), { timeout: 10_000, interval: 20 }).toBe('completed');
    // The retry (no backoff) waited for the first attempt's start to leave the 800 ms window.
    const [firstStart, secondStart] = attemptStarts.get(run.id as string) ?? [];
    expect((secondStart as number) - (firstStart as number)).toBeGreaterThanOrEqual(800 - 50);
  });
});

describe('FlowGate.close', () => {
  it('waits for the places under way to be given back', async () => {
    const connection = connectTestRedis();
    const gate = new FlowGate(connection, prefix, { holdMs: 5000 });
    const queueName = 'flow-gate-close';
    const closing = defineJob({ name: 'closing', queue: queueName, schema: z.object({}), concurrency: { limit: 1 }, attempts: 1, handler: () => timed(0) });
    const closingRegistry = createJobRegistry([closing]);
    const closingQueues = new QueueSet(closingRegistry, redis, prefix);
    const worker = new Worker(queueName, new JobRunner({ registry: closingRegistry, logger, beforeScheduledRun: admitEveryRun, flowGate: gate }).process, { connection, prefix });
    try {
      const run = await closingQueues.add(closing, {});
      await expect.poll(() => run.getState(), { timeout: 10_000, interval: 20 }).toBe('completed');
    } finally {
      await worker.close();
      await gate.close();
      await closingQueues.close();
    }
    expect(await redis.zcard(keys.flow('closing', 'concurrency', '*').slots)).toBe(0);
  });
});


import { createLogger, createRedis } from '@drumline/core/runtime';
import { Queue, Worker } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { QueueWorkers } from '../src/queue-workers.js';

// A worker that stays "running" yet never asks for a run again (as after a cluster shard's
// failover) stands in here as one that was never started: either way its queue's runs sit waiting.
const prefix = 'queue-workers';
const redis = createRedis({});
const logger = createLogger({ app: 'test', level: 'silent' });
const opened: Worker[] = [];
let watched: QueueWorkers | undefined;

afterEach(async () => {
  watched?.stopWatching();
  await Promise.all(opened.splice(0).map((worker) => worker.close()));
});
afterAll(() => redis.disconnect());

function watch(queue: string, { stuckFirst, hasFreeSlot = () => true }: { stuckFirst: boolean; hasFreeSlot?: () => boolean }) {
  const created: Worker[] = [];
  watched = new QueueWorkers({
    queues: [queue],
    redis,
    logger,
    hasFreeSlot,
    checkEveryMs: 50,
    create: (name) => {
      const worker = new Worker(name, async () => 'done', { connection: redis, prefix, autorun: !(stuckFirst && created.length === 0) });
      created.push(worker);
      opened.push(worker);
      return worker;
    },
  });
  return created;
}

async function queueWith(name: string, runs: number): Promise<Queue> {
  const queue = new Queue(name, { connection: redis, prefix });
  await queue.obliterate({ force: true });
  await queue.addBulk(Array.from({ length: runs }, (_, n) => ({ name: 'run', data: { n } })));
  return queue;
}

describe('QueueWorkers', () => {
  it('replaces a worker that takes no runs while its queue has some waiting, and the new one runs them all', async () => {
    const queue = await queueWith('stuck', 5);
    const created = watch('stuck', { stuckFirst: true });
    await expect.poll(() => queue.getCompletedCount(), { timeout: 10_000 }).toBe(5);
    expect(created).toHaveLength(2);
    await expect.poll(() => watched?.all()).toEqual([created[1]]);
    await queue.close();
  });

  it('leaves a worker alone while this process has no free slot: the runs wait for room, not for a new worker', async () => {
    const queue = await queueWith('full', 3);
    const created = watch('full', { stuckFirst: true, hasFreeSlot: () => false });
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(created).toHaveLength(1);
    expect(await queue.getWaitingCount()).toBe(3);
    await queue.close();
  });

  it('leaves a healthy worker alone while runs keep coming', async () => {
    const queue = await queueWith('healthy', 0);
    const created = watch('healthy', { stuckFirst: false });
    for (let n = 0; n < 20; n += 1) {
      await queue.add('run', { n });
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await expect.poll(() => queue.getCompletedCount(), { timeout: 10_000 }).toBe(20);
    expect(created).toHaveLength(1);
    await queue.close();
  });
});

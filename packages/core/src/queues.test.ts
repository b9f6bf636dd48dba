import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './define-job.js';
import { createJobRegistry } from './job-registry.js';
import { RUN_ID_RULE } from './ids.js';
import { jobOptionsFor, QueueSet } from './queues.js';
import { closeRedis, createRedis } from './redis.js';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';

const registry = createJobRegistry([
  defineJob({ name: 'a', queue: 'one', schema: z.object({}), handler: () => undefined }),
  defineJob({ name: 'b', queue: 'two', schema: z.object({}), handler: () => undefined }),
]);

describe('QueueSet.close', () => {
  it('leaves no unhandled rejection when its connection never reached Redis and is closed mid-connect', async () => {
    const rejections: unknown[] = [];
    const record = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', record);
    try {
      // Port 1 refuses at once; closing while ioredis is between two connect attempts is the case BullMQ mishandles.
      const redis = createRedis({ REDIS_URL: 'redis://127.0.0.1:1' });
      redis.on('error', () => {});
      const queues = new QueueSet(registry, redis, 't-core-close');
      for (const queue of queues.all()) queue.on('error', () => {});
      await new Promise((resolve) => redis.once('reconnecting', () => redis.once('connecting', resolve)));
      const ended = new Promise((resolve) => redis.once('end', resolve));
      await queues.close();
      await closeRedis(redis);
      await ended;
      // Node reports unhandled rejections once the microtasks have run, before the next macrotask.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', record);
    }
    expect(rejections).toEqual([]);
  });
});

describe('QueueSet.enqueue', () => {
  it.each(['a\ud800', 'user:42', ''])('refuses the jobId %j with InvalidIdError naming the rule, and adds nothing', async (jobId) => {
    const redis = createRedis({ REDIS_URL: TEST_REDIS_URL });
    const prefix = uniquePrefix('core-queue-ids');
    const queues = new QueueSet(registry, redis, prefix);
    try {
      await expect(queues.enqueue('a', {}, { jobId })).rejects.toMatchObject({ code: 'DRUMLINE_INVALID_ID', message: expect.stringContaining(RUN_ID_RULE) });
      expect(await queues.all()[0]?.getJobCounts()).toEqual(expect.objectContaining({ waiting: 0, delayed: 0, prioritized: 0 }));
    } finally {
      await queues.close();
      await deleteKeys(redis, prefix);
      await closeRedis(redis);
    }
  });

  it("takes the ids the system makes: a schedule's tick and manual runs, and an init task's", () => {
    for (const jobId of ['nightly@1700000000000', 'nightly@1700000000000.manual', 'init.migrate.v1']) expect(jobOptionsFor(registry.get('a'), { jobId }).jobId).toBe(jobId);
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './define-job.js';
import { createJobRegistry } from './job-registry.js';
import { QueueSet } from './queues.js';
import { closeRedis, createRedis } from './redis.js';

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
      const redis = createRedis('redis://127.0.0.1:1');
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

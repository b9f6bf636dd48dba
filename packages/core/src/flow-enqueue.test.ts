import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../../../tests/support/redis.js';
import { defineJob } from './define-job.js';
import { HEAD_RECHECK_MS, MAX_FLOW_WAIT_MS } from './flow-wait.js';
import { createJobRegistry } from './job-registry.js';
import { QueueSet } from './queues.js';
import { closeRedis, createRedis } from './redis.js';

// Admission at enqueue, with no worker running: what the queue holds right after the enqueue.
const perTenant = defineJob({
  name: 'per-tenant',
  schema: z.object({ tenantId: z.string() }),
  concurrency: { limit: 2, key: (data) => data.tenantId },
  handler: () => undefined,
});
const perSecond = defineJob({
  name: 'per-second',
  schema: z.object({}),
  rateLimit: { max: 3, perMs: 1000 },
  handler: () => undefined,
});
const redis = createRedis({ REDIS_URL: TEST_REDIS_URL });
const prefix = uniquePrefix('core-flow-enqueue');
const queues = new QueueSet(createJobRegistry([perTenant, perSecond]), redis, prefix);
const queue = queues.queueOf(perTenant);

afterAll(async () => {
  await queues.close();
  await deleteKeys(redis, prefix);
  await closeRedis(redis);
});

const delays = async (ids: readonly (string | undefined)[]) => Promise.all(ids.map(async (id) => (await queue.getJob(id as string))?.opts.delay ?? 0));

describe('a run under a concurrency limit, enqueued', () => {
  it('goes to the queue while its key has room, and joins the line as a delayed run once it has none; other keys are not held back', async () => {
    const flood = await queues.addBulk(perTenant, Array.from({ length: 50 }, () => ({ data: { tenantId: 'flood' } })));
    const waits = await delays(flood.map((run) => run.id));
    expect(waits.filter((wait) => wait === 0)).toHaveLength(2);
    // The heads look again after a second (a release wakes them sooner); those further back later, at most MAX_FLOW_WAIT_MS.
    expect(waits.slice(2).every((wait) => wait >= HEAD_RECHECK_MS && wait <= MAX_FLOW_WAIT_MS)).toBe(true);
    expect(waits.slice(2)).toEqual([...waits.slice(2)].sort((a, b) => a - b));
    expect(await queue.getWaitingCount()).toBe(2);

    const other = await queues.add(perTenant, { tenantId: 'quiet' });
    expect(await other.getState()).toBe('waiting');
  });

  it('is judged when it is due, not at enqueue, when it is asked to start later', async () => {
    const later = await queues.add(perTenant, { tenantId: 'flood' }, { delay: 5000 });
    expect(later.opts.delay).toBe(5000);
  });
});

describe('a run under a rate limit, enqueued', () => {
  it('goes to the queue for the first `max` of a window and waits a window per `max` after that', async () => {
    const runs = await queues.addBulk(perSecond, Array.from({ length: 7 }, () => ({ data: {} })));
    const waits = await delays(runs.map((run) => run.id));
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    // Nothing started yet, so no start lapses: each later run waits a whole window for each `max` ahead of it.
    for (const wait of waits.slice(3, 6)) expect(wait).toBeGreaterThanOrEqual(1);
    expect(waits[6]).toBeGreaterThanOrEqual(1000);
  });
});

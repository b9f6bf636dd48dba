import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { promoteAll } from '../src/promoter.js';

const redis = connectTestRedis();
const prefix = uniquePrefix('promoter');
const queue = new Queue('default', { connection: redis, prefix });

afterAll(async () => {
  await queue.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('promoteAll', () => {
  it('moves every given delayed job to wait, with its waiting event, skipping ids that are no longer delayed', async () => {
    await queue.addBulk(['a', 'b', 'c'].map((id) => ({ name: 'tick', data: {}, opts: { jobId: id, delay: 60_000 } })));
    await queue.add('tick', {}, { jobId: 'already-waiting' });

    await promoteAll(queue, ['a', 'gone', 'already-waiting', 'b']);

    expect((await queue.getJobs(['waiting'], 0, -1, true)).map((job) => job.id).sort()).toEqual(['a', 'already-waiting', 'b']);
    expect((await queue.getJobs(['delayed'], 0, -1, true)).map((job) => job.id)).toEqual(['c']);
    const events = await redis.xrange(`${prefix}:default:events`, '-', '+');
    const promoted = events.filter(([, fields]) => fields.includes('waiting') && fields.includes('delayed')).map(([, fields]) => fields[fields.indexOf('jobId') + 1]);
    expect(promoted.sort()).toEqual(['a', 'b']);
  });
});

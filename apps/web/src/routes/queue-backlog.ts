import type { Queue } from 'bullmq';
import type { RedisConnection } from '@drumline/core/runtime';

/**
 * Jobs of `queue` a worker could start at `now`: its wait list, its prioritized set, and the delayed
 * jobs already due. BullMQ scores a delayed job by its due time in ms × 0x1000 plus a 12-bit counter
 * (its getDelayedScore.lua), so the due ones score below (now + 1) × 0x1000, the bound its own
 * promoteDelayedJobs.lua reads with. One MULTI, so a job moving between the three is counted once.
 * `redis` is the connection the queue was made with.
 */
export async function queueBacklog(redis: RedisConnection, queue: Queue, now: number): Promise<number> {
  const replies = await redis
    .multi()
    .llen(queue.toKey('wait'))
    .zcard(queue.toKey('prioritized'))
    .zcount(queue.toKey('delayed'), 0, (now + 1) * 0x1000 - 1)
    .exec();
  return (replies ?? []).reduce((sum, [error, count]) => {
    if (error) throw error;
    return sum + Number(count);
  }, 0);
}

import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection fit for BullMQ workers and blocking commands: it never gives up on a
 * request while Redis restarts (`maxRetriesPerRequest: null`), as BullMQ requires for workers.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, ...options });
}

/** Quits a connection, falling back to a hard disconnect when Redis does not answer. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

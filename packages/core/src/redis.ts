import { Redis, type RedisOptions } from 'ioredis';
import type { RedisHealth } from './redis-health.js';

export interface CreateRedisOptions extends RedisOptions {
  /** Listens to the connection's errors and state: the apps pass their process's one tracker. */
  health?: RedisHealth;
}

/**
 * A Redis connection fit for BullMQ workers and blocking commands: it never gives up on a
 * request while Redis restarts (`maxRetriesPerRequest: null`), as BullMQ requires for workers.
 */
export function createRedis(url: string, { health, ...options }: CreateRedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, ...options });
  health?.track(redis);
  return redis;
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

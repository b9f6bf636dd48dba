import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';

/** The Redis every test talks to; tests that kill or restart Redis start their own instead. */
export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/** A client for test set-up and checks; `maxRetriesPerRequest: null` as BullMQ workers require. */
export function connectTestRedis(url = TEST_REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * A KEY_PREFIX of its own for one test file, so files can run in parallel on one Redis without
 * seeing each other's keys. It fits KEY_PREFIX's rule (1-32 letters, digits, `_` or `-`) and
 * starts with `t-` so stray test keys are easy to spot.
 */
export function uniquePrefix(name: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 18) || 'test';
  return `t-${slug}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under `<prefix>:`, as a test file's afterAll does; returns how many it deleted. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) deleted += await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  return deleted;
}

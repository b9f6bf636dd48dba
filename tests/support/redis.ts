import type { RedisConnection } from '@drumline/core/runtime';
import { Redis, type Cluster } from 'ioredis';
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

/**
 * The connections that hold the keys: a Redis itself, or each primary of a cluster, since SCAN
 * on a cluster only sees the keys of the node it reaches.
 */
export function primariesOf(redis: RedisConnection): Redis[] {
  return redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
}

/** Every key matching `pattern` (SCAN's glob) on every primary, sorted, each once. */
export async function scanKeys(redis: RedisConnection, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of primariesOf(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
  }
  return [...new Set(keys)].sort();
}

/** Deletes every key under `<prefix>:`, as a test file's afterAll does; returns how many it deleted. */
export async function deleteKeys(redis: RedisConnection, prefix: string): Promise<number> {
  let deleted = 0;
  for (const node of primariesOf(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      // One key per UNLINK: a cluster node refuses a command whose keys lie in different slots.
      if (keys.length > 0) deleted += redis.isCluster ? (await Promise.all(keys.map((key) => node.unlink(key)))).reduce((sum, n) => sum + n, 0) : await node.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  return deleted;
}

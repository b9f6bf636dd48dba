import type { RedisConnection } from '@drumline/core/runtime';
import { scanKeys } from './redis.js';

export { scanKeys };

/** Every key under `<prefix>:`, with its type, its value in a canonical form, and whether it has a TTL. */
export type KeyspaceSnapshot = Map<string, string>;

/**
 * The command that reads a key of its type whole. Not DUMP: a large hash or set is a hash table
 * whose serialized order changes when Redis rehashes it, which even a read can set off. One
 * command per key, not a pipeline: on a cluster, the keys lie in different slots.
 */
function readWhole(redis: RedisConnection, type: string, key: string): Promise<unknown> {
  if (type === 'string') return redis.getBuffer(key);
  if (type === 'hash') return redis.hgetall(key);
  if (type === 'set') return redis.smembers(key);
  if (type === 'zset') return redis.zrange(key, 0, -1, 'WITHSCORES');
  if (type === 'list') return redis.lrange(key, 0, -1);
  if (type === 'stream') return redis.xrange(key, '-', '+');
  return redis.dumpBuffer(key);
}

function canonical(type: string, value: unknown): string {
  if (type === 'hash') return JSON.stringify(Object.entries(value as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (type === 'set') return JSON.stringify([...(value as string[])].sort());
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return JSON.stringify(value);
}

/** SCANs `<prefix>:*` (every primary of a cluster) and reads every key whole: equal snapshots mean nothing under the prefix was written. */
export async function snapshotKeyspace(redis: RedisConnection, prefix: string): Promise<KeyspaceSnapshot> {
  const keys = await scanKeys(redis, `${prefix}:*`);
  const types = await Promise.all(keys.map((key) => redis.type(key)));
  const ttls = await Promise.all(keys.map((key) => redis.pttl(key)));
  const values = await Promise.all(keys.map((key, index) => readWhole(redis, types[index] as string, key)));
  const snapshot: KeyspaceSnapshot = new Map();
  keys.forEach((key, index) => {
    const type = types[index] as string;
    // A key deleted between the SCAN and the reads is left out, as if the scan had missed it.
    if (type === 'none') return;
    const ttl = ttls[index] as number;
    snapshot.set(key, `${type} ${ttl >= 0 ? 'expiring' : 'persistent'} ${canonical(type, values[index])}`);
  });
  return snapshot;
}

/** The keys added, removed or changed from `before` to `after`, for a failure message; empty when equal. */
export function keyspaceChanges(before: KeyspaceSnapshot, after: KeyspaceSnapshot): string[] {
  const changes: string[] = [];
  for (const [key, value] of after) {
    if (!before.has(key)) changes.push(`added ${key}`);
    else if (before.get(key) !== value) changes.push(`changed ${key}`);
  }
  for (const key of before.keys()) if (!after.has(key)) changes.push(`removed ${key}`);
  return changes;
}

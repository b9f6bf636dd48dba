import type { Redis } from 'ioredis';

/** Every key under `<prefix>:`, with its type, its value in a canonical form, and whether it has a TTL. */
export type KeyspaceSnapshot = Map<string, string>;

/**
 * The commands that read a key of each type whole. Not DUMP: a large hash or set is a hash table
 * whose serialized order changes when Redis rehashes it, which even a read can set off.
 */
function readWhole(pipeline: ReturnType<Redis['pipeline']>, type: string, key: string): void {
  if (type === 'string') pipeline.getBuffer(key);
  else if (type === 'hash') pipeline.hgetall(key);
  else if (type === 'set') pipeline.smembers(key);
  else if (type === 'zset') pipeline.zrange(key, 0, -1, 'WITHSCORES');
  else if (type === 'list') pipeline.lrange(key, 0, -1);
  else if (type === 'stream') pipeline.xrange(key, '-', '+');
  else pipeline.dumpBuffer(key);
}

function canonical(type: string, value: unknown): string {
  if (type === 'hash') return JSON.stringify(Object.entries(value as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (type === 'set') return JSON.stringify([...(value as string[])].sort());
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return JSON.stringify(value);
}

/** Every key matching `pattern` (SCAN's glob), sorted, each once. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return [...new Set(keys)].sort();
}

/** SCANs `<prefix>:*` and reads every key whole: equal snapshots mean nothing under the prefix was written. */
export async function snapshotKeyspace(redis: Redis, prefix: string): Promise<KeyspaceSnapshot> {
  const keys = await scanKeys(redis, `${prefix}:*`);
  const typesPipeline = redis.pipeline();
  for (const key of keys) typesPipeline.type(key).pttl(key);
  const typeReplies = (await typesPipeline.exec()) ?? [];
  const types = keys.map((_, index) => String(typeReplies[2 * index]?.[1]));
  const ttls = keys.map((_, index) => Number(typeReplies[2 * index + 1]?.[1]));
  const valuesPipeline = redis.pipeline();
  keys.forEach((key, index) => readWhole(valuesPipeline, types[index] as string, key));
  const values = (await valuesPipeline.exec()) ?? [];
  const snapshot: KeyspaceSnapshot = new Map();
  keys.forEach((key, index) => {
    const type = types[index] as string;
    // A key deleted between the SCAN and the reads is left out, as if the scan had missed it.
    if (type === 'none') return;
    const ttl = ttls[index] as number;
    snapshot.set(key, `${type} ${ttl >= 0 ? 'expiring' : 'persistent'} ${canonical(type, values[index]?.[1])}`);
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

import type { Redis } from 'ioredis';

/** Every key under `<prefix>:`, with its serialized value (DUMP) and whether it has a TTL. */
export type KeyspaceSnapshot = Map<string, string>;

/** SCANs `<prefix>:*` and DUMPs each key in one pipeline: equal snapshots mean nothing under the prefix was written. */
export async function snapshotKeyspace(redis: Redis, prefix: string): Promise<KeyspaceSnapshot> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  keys.sort();
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.dumpBuffer(key).pttl(key);
  const replies = (await pipeline.exec()) ?? [];
  const snapshot: KeyspaceSnapshot = new Map();
  keys.forEach((key, index) => {
    const dump = replies[2 * index]?.[1] as Buffer | null;
    const ttl = replies[2 * index + 1]?.[1] as number;
    // A key deleted between the SCAN and the DUMP is left out, as if the scan had missed it.
    if (dump) snapshot.set(key, `${ttl >= 0 ? 'expiring' : 'persistent'} ${dump.toString('base64')}`);
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

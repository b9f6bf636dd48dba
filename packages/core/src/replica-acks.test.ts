import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicatedRedis } from '@drumline/test-redis';
import { ReplicaAcks } from './replica-acks.js';
import { createRedis } from './redis.js';

// A real primary and replica: WAIT is Redis's, and a stalled replica is a SIGSTOPped redis-server.
let topology: ReplicatedRedis;
let redis: ReturnType<typeof createRedis>;

beforeAll(async () => {
  topology = await ReplicatedRedis.start({ replicas: 1 });
  redis = createRedis({ REDIS_URL: topology.primary.url });
});

afterAll(async () => {
  await redis?.quit();
  await topology?.destroy();
});

async function waitCalls(): Promise<number> {
  const stats = await topology.primary.ask((client) => client.info('commandstats'));
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('ReplicaAcks', () => {
  it('confirms a write once the replica holds it', async () => {
    await redis.set('acks:held', 'yes');
    expect(await new ReplicaAcks(redis, { replicas: 1, timeoutMs: 5000 }).confirm()).toBe(true);
    expect(await topology.replicas[0]!.ask((client) => client.get('acks:held'))).toBe('yes');
  });

  it('does not confirm while the only replica is stalled, and confirms what was written meanwhile once it is back', async () => {
    const acks = new ReplicaAcks(redis, { replicas: 1, timeoutMs: 300 });
    topology.replicas[0]!.pause();
    try {
      await redis.set('acks:stalled', 'written');
      expect(await acks.confirm()).toBe(false);
    } finally {
      topology.replicas[0]!.resume();
    }
    await expect.poll(() => acks.confirm(), { timeout: 10_000 }).toBe(true);
    expect(await topology.replicas[0]!.ask((client) => client.get('acks:stalled'))).toBe('written');
  });

  it('never confirms more replicas than there are', async () => {
    await redis.set('acks:two', 'x');
    expect(await new ReplicaAcks(redis, { replicas: 2, timeoutMs: 200 }).confirm()).toBe(false);
  });

  it('asks Redis nothing when no replica is asked for', async () => {
    const before = await waitCalls();
    expect(await new ReplicaAcks(redis, { replicas: 0, timeoutMs: 1000 }).confirm()).toBe(true);
    expect(await waitCalls()).toBe(before);
  });

  it('callers that ask while a WAIT is in flight share one WAIT sent after it, not a queue of their own', async () => {
    const acks = new ReplicaAcks(redis, { replicas: 1, timeoutMs: 2000 });
    const before = await waitCalls();
    topology.replicas[0]!.pause();
    await redis.set('acks:earlier', 'before the first WAIT');
    const first = acks.confirm(); // in flight until the replica is back
    // Sent behind the blocked WAIT: Redis runs a connection's commands in order, so it waits for it.
    const written = redis.set('acks:later', 'after the first WAIT');
    const later = Array.from({ length: 20 }, () => acks.confirm());
    topology.replicas[0]!.resume();
    expect(await Promise.all([first, ...later])).toEqual(Array.from({ length: 21 }, () => true));
    await written;
    expect(await waitCalls()).toBe(before + 2);
    expect(await topology.replicas[0]!.ask((client) => client.get('acks:later'))).toBe('after the first WAIT');
  });
});

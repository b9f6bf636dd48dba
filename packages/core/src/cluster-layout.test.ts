import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OwnRedisCluster } from '../../../tests/support/redis-cluster.js';
import { deleteKeys, scanKeys } from '../../../tests/support/redis.js';
import { baseEnvSchema, parseEnv } from './config.js';
import { defineJob } from './define-job.js';
import { createJobRegistry } from './job-registry.js';
import { LeaderElection } from './leader-election.js';
import { createLogger } from './logger.js';
import { QueueSet } from './queues.js';
import { closeRedis, createRedis, type RedisConnection } from './redis.js';
import { apiScheduleRecord } from './schedule-record.js';
import { ScheduleStore } from './schedule-store.js';

// The framework on a real three-primary Redis Cluster, through the connection the apps make
// (createRedis with REDIS_CLUSTER_NODES). Redis refuses a script or a transaction whose keys hash
// to more than one slot (CROSSSLOT), so each write below working at all is half of what is
// checked; where the keys went is the other half.

// Queue names that hash into the three primaries' slot ranges (tests/jobs/src/sharded-pings.ts).
const QUEUES = ['reports', 'default', 'tenants'] as const;
const jobs = QUEUES.map((queue) => defineJob({ name: `on-${queue}`, queue, schema: z.object({ n: z.number() }), handler: () => undefined }));
const limited = defineJob({ name: 'limited', queue: 'default', schema: z.object({ tenant: z.string() }), concurrency: { limit: 1, key: (data) => data.tenant }, handler: () => undefined });
const registry = createJobRegistry([...jobs, limited]);
const PREFIX = 'layout';
const logger = createLogger({ app: 'cluster-layout-test', level: 'silent' });

let cluster: OwnRedisCluster;
let redis: RedisConnection;
let queues: QueueSet;

beforeAll(async () => {
  cluster = await OwnRedisCluster.start({ primaries: 3 });
  redis = createRedis(parseEnv(baseEnvSchema, cluster.env()));
  queues = new QueueSet(registry, redis, PREFIX);
});

afterAll(async () => {
  await queues?.close();
  if (redis) {
    await deleteKeys(redis, PREFIX);
    await closeRedis(redis);
  }
  await cluster?.destroy();
});

/** The primaries holding `keys` now. */
async function primariesOf(keys: string[]): Promise<Set<number>> {
  return new Set(await Promise.all(keys.map((key) => cluster.primaryPortOf(key))));
}

describe('on Redis Cluster', () => {
  it("keeps each queue's keys on one primary, and the three queues on three primaries", async () => {
    for (const [index, job] of jobs.entries()) {
      await queues.enqueue(job.name, { n: index });
      await queues.enqueueBulk(job.name, [{ data: { n: 10 } }, { data: { n: 11 }, options: { jobId: `bulk-${index}` } }]);
    }

    const holders = await Promise.all(
      QUEUES.map(async (queue) => {
        const keys = await scanKeys(redis, `${PREFIX}:{${queue}}:*`);
        expect(keys.length, `keys of queue ${queue}`).toBeGreaterThan(3);
        return primariesOf(keys);
      }),
    );
    for (const holder of holders) expect(holder.size).toBe(1);
    expect(new Set(holders.flatMap((holder) => [...holder])).size).toBe(3);
    // Every key of the prefix is a queue's or Drumline's: nothing was written outside the layout.
    const all = await scanKeys(redis, `${PREFIX}:*`);
    expect(all.filter((key) => !/^layout:\{(reports|default|tenants|drumline)\}:|^layout:drumline:flow:\{/.test(key))).toEqual([]);
  });

  it('tells an enqueue of a jobId it already has from a new one, on each queue', async () => {
    for (const [index, job] of jobs.entries()) {
      const queue = queues.queueOf(job);
      const again = await queue.add(job.name, { n: 12 }, { jobId: `bulk-${index}` });
      const fresh = await queue.add(job.name, { n: 13 }, { jobId: `fresh-${index}` });
      expect(await queues.existedBefore(job, [again, fresh])).toEqual([true, false]);
    }
  });

  it("holds Drumline's own state in one slot: the lease, fenced writes, schedules, pauses and deletes work and stay together", async () => {
    const store = new ScheduleStore(redis, PREFIX);
    const election = new LeaderElection(redis, PREFIX, { leaseTtlMs: 30_000, logger });
    election.start();
    await once(election, 'elected');
    try {
      const record = apiScheduleRecord(registry, 'every-minute', { job: 'on-default', cron: '* * * * *', data: { n: 1 } });
      expect(await store.putFromApi(record)).toBe('created');
      await store.setPaused('every-minute', true);
      expect(await store.isPaused('every-minute')).toBe(true);
      await store.recordRun('every-minute', { runId: 'every-minute@60000', scheduledFor: 60_000, startedAt: 60_001, finishedAt: null, state: 'active' });
      expect(await election.writeHashFenced(store.keys.cursors, [['every-minute', '{"upTo":60000}']])).toBe(true);
      expect(await store.takeChanged()).toEqual(['every-minute']);

      const keys = await scanKeys(redis, `${PREFIX}:{drumline}:*`);
      expect(keys).toEqual(expect.arrayContaining([store.keys.leader, store.keys.leaderTerm, store.keys.schedules, store.keys.schedulesPaused, store.keys.lastRuns, store.keys.cursors]));
      const slots = new Set(await Promise.all(keys.map((key) => redis.cluster('KEYSLOT', key))));
      expect(slots.size).toBe(1);

      await store.deleteFromApi('every-minute');
      expect(await store.get('every-minute')).toBeUndefined();
      expect(await store.isPaused('every-minute')).toBe(false);
      expect((await store.lastRuns(['every-minute'])).size).toBe(0);
    } finally {
      await election.stop();
    }
    expect(await redis.exists(store.keys.leader)).toBe(0);
  });

  it('admits runs under a concurrency limit at enqueue: a key at its limit adds the run delayed, in its own slot', async () => {
    const [first, second] = await queues.addBulk(limited, [{ data: { tenant: 't1' } }, { data: { tenant: 't1' } }]);
    const other = await queues.add(limited, { tenant: 't2' });
    const delay = async (id: string | undefined) => (await queues.queueOf(limited).getJob(id as string))?.opts.delay ?? 0;

    expect(await delay(first?.id)).toBe(0);
    expect(await delay(second?.id)).toBeGreaterThan(0);
    expect(await delay(other.id)).toBe(0);
  });
});

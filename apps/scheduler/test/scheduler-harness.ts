import {
  apiScheduleRecord,
  createJobRegistry,
  createLogger,
  defineJob,
  LeaderElection,
  QueueSet,
  ScheduleStore,
  TickLedger,
  type JobDefinition,
  type ScheduleInput,
  type ScheduleRecord,
} from '@drumline/core/runtime';
import type { Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { Materializer } from '../src/materializer.js';

export const tick = defineJob({ name: 'tick', schema: z.object({ n: z.number().default(0) }), handler: () => undefined });

/**
 * One scheduler's parts wired in-process against the real Redis, with a clock the test drives:
 * a leader election, a store, queues and a materializer, under a key prefix of the test's own.
 */
export async function startScheduler(options: {
  name: string;
  jobs?: readonly JobDefinition[];
  prefix?: string;
  lookaheadMs?: number;
  promoteAheadMs?: number;
  redis?: Redis;
  /** Where the test's clock starts (default: the real time). */
  startAt?: number;
  onMissed?: (schedule: ScheduleRecord, ticks: number[]) => void;
  onStalled?: (schedule: ScheduleRecord, after: number) => void;
  tracer?: Tracer;
}) {
  const redis = options.redis ?? connectTestRedis();
  const prefix = options.prefix ?? uniquePrefix(options.name);
  const registry = createJobRegistry(options.jobs ?? [tick]);
  const logger = createLogger({ app: 'scheduler-test', level: 'silent' });
  const queues = new QueueSet(registry, redis, prefix);
  const store = new ScheduleStore(redis, prefix);
  const election = new LeaderElection(redis, prefix, { leaseTtlMs: 2000, logger });
  let clock = options.startAt ?? Date.now();
  const ledger = new TickLedger(redis, prefix);
  const materializer = new Materializer({
    registry,
    queues,
    store,
    election,
    logger,
    lookaheadMs: options.lookaheadMs ?? 10_000,
    pollMs: 100,
    promoteAheadMs: options.promoteAheadMs ?? 0,
    now: () => clock,
    onMissed: options.onMissed,
    onStalled: options.onStalled,
    tracer: options.tracer,
    ledger,
  });
  const elected = new Promise<void>((resolve) => election.once('elected', () => resolve()));
  election.start();
  return {
    redis,
    prefix,
    registry,
    queues,
    store,
    election,
    materializer,
    ledger,
    elected,
    setNow(ms: number) {
      clock = ms;
    },
    now: () => clock,
    async putApiSchedule(id: string, input: ScheduleInput) {
      return store.putFromApi(apiScheduleRecord(registry, id, input));
    },
    async jobIds(state: 'delayed' | 'waiting' | 'completed' = 'delayed') {
      const queue = queues.all()[0]!;
      return (await queue.getJobs([state], 0, -1, true)).map((job) => job.id as string);
    },
    async close(options: { keepKeys?: boolean } = {}) {
      await materializer.stop();
      await election.stop();
      await queues.close();
      if (!options.keepKeys) await deleteKeys(redis, prefix);
      await redis.quit();
    },
  };
}

// The scheduler of schedule-scale: the same life as apps/scheduler/src/main.ts (lease, reconcile,
// init tasks, materializer), built from the scheduler's own compiled modules, with the job list
// swapped for SCALE_SCHEDULES generated code schedules. Env: as apps/scheduler, plus SCALE_SCHEDULES.
import { once } from 'node:events';
import { baseEnvSchema, closeRedis, createJobRegistry, createLogger, createRedis, LeaderElection, parseEnv, QueueSet, ScheduleStore } from '@drumline/core/runtime';
import { runInitTasks } from '@drumline/scheduler/dist/init-runner.js';
import { Materializer } from '@drumline/scheduler/dist/materializer.js';
import { reconcileSchedules } from '@drumline/scheduler/dist/reconcile.js';
import { generatedJobs } from './generated-jobs.js';

const env = process.env;
const leaseTtlMs = Number(env.LEASE_TTL_MS ?? 5000);
const pollMs = Number(env.SCHEDULER_POLL_MS ?? 500);
const logger = createLogger({ app: 'scheduler', level: env.LOG_LEVEL === 'silent' ? 'silent' : 'info' });
const registry = createJobRegistry(generatedJobs(Number(env.SCALE_SCHEDULES ?? 10_000)));
const redis = createRedis(parseEnv(baseEnvSchema, env));
const prefix = env.KEY_PREFIX ?? 'drumline';
const queues = new QueueSet(registry, redis, prefix);
const initQueues = new QueueSet(createJobRegistry([]), redis, prefix);
const store = new ScheduleStore(redis, prefix);
const election = new LeaderElection(redis, prefix, { leaseTtlMs, logger });
const materializer = new Materializer({ registry, queues, store, election, logger, lookaheadMs: Number(env.SCHEDULER_LOOKAHEAD_MS ?? 15_000), pollMs, promoteAheadMs: 300 });

let leadership: Promise<void> = Promise.resolve();
election.on('elected', (term) => {
  leadership = leadership.then(async () => {
    if (!election.isLeader) return;
    const diff = await reconcileSchedules({ registry, store, election, logger });
    if (!diff || !election.isLeader) return;
    const initialized = await runInitTasks({ tasks: [], initQueues, redis, initDoneKey: store.keys.initDone, release: env.RELEASE ?? 'bench', election, logger, pollMs });
    if (!initialized || !election.isLeader) return;
    await materializer.load();
    materializer.start();
    logger.info({ term }, 'materializing schedules');
  });
});
election.on('demoted', () => {
  leadership = leadership.then(() => materializer.stop());
});
election.start();
logger.info('scheduler started; campaigning for the lead');

await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
await materializer.stop();
await election.stop();
await leadership;
await Promise.all([queues.close(), initQueues.close()]);
await closeRedis(redis);

import { once } from 'node:events';
import {
  AlertWebhook,
  closeRedis,
  ConfigError,
  createAlertMetrics,
  createJobRegistry,
  createLogger,
  createMetricsRegistry,
  createRedis,
  createRedisUpGauge,
  createRunsCounter,
  createSchedulerMetrics,
  LeaderElection,
  loadDefinitions,
  QueueSet,
  RedisHealth,
  ScheduleStore,
  startMetricsServer,
  startTracing,
  TickLedger,
  tickLedgerRetention,
} from '@drumline/core/runtime';
import { loadSchedulerConfig } from './config.js';
import { Materializer } from './materializer.js';
import { reportMissedTicks, reportStalledSchedule } from './missed-ticks.js';
import { runInitTasks } from './init-runner.js';
import { OverdueWatcher } from './overdue-watcher.js';
import { reconcileSchedules } from './reconcile.js';
import { StalledFailureWatcher } from './stalled-failure-watcher.js';

async function main(): Promise<void> {
  // The user's jobs, imported here so that a mistake in one is a line naming it, not a stack trace.
  const { registry, initRegistry, initTasks } = await loadDefinitions('scheduler', {
    jobsModule: process.env.JOBS_MODULE,
    importModule: (specifier) => import(specifier),
    build: ({ initTasks, jobs }) => ({ registry: createJobRegistry(jobs), initRegistry: createJobRegistry(initTasks), initTasks }),
  });
  const config = loadSchedulerConfig(process.env);
  const logger = createLogger({ app: 'scheduler', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const tracing = await startTracing(config, { serviceName: 'drumline-scheduler', logger });
  const redisHealth = new RedisHealth({ logger });
  const redis = createRedis(config, { health: redisHealth });
  const queues = new QueueSet(registry, redis, config.KEY_PREFIX, redisHealth, tracing?.tracer);
  const initQueues = new QueueSet(initRegistry, redis, config.KEY_PREFIX, redisHealth, tracing?.tracer);
  const store = new ScheduleStore(redis, config.KEY_PREFIX);
  const election = new LeaderElection(redis, config.KEY_PREFIX, { leaseTtlMs: config.LEASE_TTL_MS, logger });
  const metricsRegistry = createMetricsRegistry('scheduler');
  const metrics = createSchedulerMetrics(metricsRegistry);
  createRedisUpGauge(metricsRegistry, redisHealth);
  const alerts = new AlertWebhook({ url: config.ALERT_WEBHOOK_URL, publicUrl: config.PUBLIC_URL, logger, counter: createAlertMetrics(metricsRegistry) });
  const ledger = new TickLedger(redis, config.KEY_PREFIX, tickLedgerRetention(config));
  const stalledFailures = new StalledFailureWatcher({ redis, redisHealth, queues, store, alerts, logger, runs: createRunsCounter(metricsRegistry), ledger });
  const overdueWatcher = new OverdueWatcher({ redis, registry, store, election, logger, alerts, overdueMs: config.SCHEDULE_OVERDUE_MS, metrics });
  const materializer = new Materializer({
    registry,
    queues,
    store,
    election,
    logger,
    lookaheadMs: config.SCHEDULER_LOOKAHEAD_MS,
    pollMs: config.SCHEDULER_POLL_MS,
    promoteAheadMs: config.SCHEDULER_PROMOTE_AHEAD_MS,
    onMissed: reportMissedTicks({ redis, keys: store.keys, alerts, logger, metrics, overdueWatcher }),
    onStalled: reportStalledSchedule({ redis, keys: store.keys, alerts, logger, metrics, overdueWatcher }),
    tracer: tracing?.tracer,
    ledger,
  });
  const metricsServer =
    config.METRICS_PORT === undefined
      ? undefined
      : // A standby's /readyz is 200 too: it is the failover, so Kubernetes should count it for the
        // PodDisruptionBudget and a rollout. Which replica leads is in the body (and drumline_scheduler_is_leader).
        await startMetricsServer({ registry: metricsRegistry, port: config.METRICS_PORT, host: config.METRICS_HOST, token: config.METRICS_TOKEN ?? '', logger, redisHealth, status: () => ({ leader: election.isLeader }) });

  // Leadership can flip while a step is awaited; each step re-checks it, so the chain stays in order.
  let leadership: Promise<void> = Promise.resolve();
  election.on('elected', (term) => {
    metrics.isLeader.set(1);
    metrics.leaderChanges.inc();
    leadership = leadership.then(async () => {
      if (!election.isLeader) return;
      const diff = await reconcileSchedules({ registry, store, election, logger });
      if (!diff || !election.isLeader) return;
      const initialized = await runInitTasks({
        tasks: initTasks,
        initQueues,
        redis,
        initDoneKey: store.keys.initDone,
        release: config.RELEASE,
        election,
        logger,
        pollMs: config.SCHEDULER_POLL_MS,
      });
      if (!initialized || !election.isLeader) return;
      await materializer.load();
      materializer.start();
      // Its first look reads every schedule: after the first passes, which are what a takeover waits for.
      overdueWatcher.start(4 * config.SCHEDULER_POLL_MS);
      await stalledFailures.start();
      logger.info({ term }, 'materializing schedules');
    }).catch((error: unknown) => {
      logger.error({ err: error }, 'taking the lead failed; handing it over');
      election.lostLease('taking the lead failed');
    });
  });
  election.on('demoted', () => {
    metrics.isLeader.set(0);
    leadership = leadership.then(() => Promise.all([materializer.stop(), overdueWatcher.stop(), stalledFailures.stop()])).then(() => undefined);
  });

  election.start();
  logger.info({ leaseTtlMs: config.LEASE_TTL_MS, lookaheadMs: config.SCHEDULER_LOOKAHEAD_MS }, 'scheduler started; campaigning for the lead');

  const signal = await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  logger.info({ signal }, 'shutting down');
  await Promise.all([materializer.stop(), overdueWatcher.stop(), stalledFailures.stop()]);
  await election.stop();
  await leadership;
  await alerts.flush();
  await metricsServer?.close();
  await Promise.all([queues.close(), initQueues.close()]);
  await closeRedis(redis);
  await tracing?.shutdown(); // the last passes' spans
  logger.info('stopped');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : (error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

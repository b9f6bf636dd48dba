import {
  AlertWebhook,
  closeRedis,
  ConfigError,
  createAlertMetrics,
  createFlowWaitsCounter,
  createJobRegistry,
  createLogger,
  createMetricsRegistry,
  createRedis,
  createRedisUpGauge,
  createRunMetrics,
  createTicksMissedCounter,
  drumlineKeys,
  INIT_QUEUE,
  keyLayoutOf,
  loadDefinitions,
  queuePrefix,
  RedisHealth,
  startMetricsServer,
  startTracing,
  tickLedgerRetention,
  type JobRegistry,
} from '@drumline/core/runtime';
import { Worker } from 'bullmq';
import { hostname } from 'node:os';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { listenForCancels } from './cancel-listener.js';
import { countMissedTicks } from './count-missed-ticks.js';
import { drain } from './drain.js';
import { FlowGate } from './flow-gate.js';
import { alertOnFinalFailure } from './final-failure-alert.js';
import { JobRunner } from './job-runner.js';
import { QueueWorkers } from './queue-workers.js';
import { gateScheduledRuns, ScheduleGate, TICK_CLAIM_SECONDS } from './schedule-gate.js';

// The user's jobs, imported here so that a mistake in one is a line naming it, not a stack trace.
const { initTasks, registry, userJobs } = await loadDefinitions('worker', {
  jobsModule: process.env.JOBS_MODULE,
  importModule: (specifier) => import(specifier),
  // Init tasks are jobs on their own queue, which every worker consumes whatever WORKER_QUEUES says.
  build: ({ initTasks, jobs }) => ({ initTasks, registry: createJobRegistry([...jobs, ...initTasks]), userJobs: createJobRegistry(jobs) }),
});
const config = readConfig(userJobs);
const queueNames = [...new Set([...config.WORKER_QUEUES, ...(initTasks.length > 0 ? [INIT_QUEUE] : [])])];

const logger = createLogger({ app: 'worker', level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
const stopRequested = shutdownSignal(); // listening before the first job can start
const tracing = await startTracing(config, { serviceName: 'drumline-worker', logger });
const redisHealth = new RedisHealth({ logger });
const connection = createRedis(config, { health: redisHealth });
// The gate's own connection: the runs of a tick, held until it, all ask at once (one claim call, see
// ClaimBatch) and all record how they ended soon after, and none of it waits behind BullMQ's commands.
// Auto-pipelined, so those last-run writes share writes too; BullMQ's connection stays as BullMQ
// wants it (its issues report errors with auto-pipelining).
const gateConnection = createRedis(config, { enableAutoPipelining: true, health: redisHealth });
const gate = new ScheduleGate(gateConnection, config.KEY_PREFIX, {
  overlapLockMs: config.WORKER_LOCK_MS,
  tickClaimSeconds: TICK_CLAIM_SECONDS,
  replicaAcks: { replicas: config.REDIS_WAIT_REPLICAS, timeoutMs: config.REDIS_WAIT_TIMEOUT_MS },
  ledgerRetention: tickLedgerRetention(config),
  logger,
});
const cancelSubscriber = createRedis(config, { health: redisHealth });
const metrics = createMetricsRegistry('worker');
createRedisUpGauge(metrics, redisHealth);
const alerts = new AlertWebhook({ url: config.ALERT_WEBHOOK_URL, publicUrl: config.PUBLIC_URL, logger, counter: createAlertMetrics(metrics) });
const flowWaits = createFlowWaitsCounter(metrics);
// On BullMQ's connection, not the auto-pipelined gate's: each run waits for its acquire before its
// handler, and an auto-pipelined command waits a turn of the event loop to be sent (flow-throughput
// in pnpm bench: 0.71 of the unlimited job's rate against 0.60 on the gate's connection).
const flowGate = new FlowGate(connection, config.KEY_PREFIX, { holdMs: config.WORKER_LOCK_MS, releaseConnection: gateConnection, onWait: (job, limit) => flowWaits.labels(job, limit).inc() });
const runner = new JobRunner({
  registry,
  logger,
  flowGate,
  beforeScheduledRun: countMissedTicks(gateScheduledRuns(gate), createTicksMissedCounter(metrics)),
  metrics: createRunMetrics(metrics),
  onFinalFailure: alertOnFinalFailure(alerts),
  tracer: tracing?.tracer,
});
const metricsServer =
  config.METRICS_PORT === undefined
    ? undefined
    : await startMetricsServer({ registry: metrics, port: config.METRICS_PORT, host: config.METRICS_HOST, token: config.METRICS_TOKEN ?? '', logger, redisHealth });
const createWorker = (queue: string): Worker => {
  const worker = new Worker(queue, runner.process, {
    // Stored on each job as `processedBy`, so the dashboard and a test can tell which replica ran it.
    name: `${hostname()}:${process.pid}`,
    connection,
    prefix: queuePrefix(config.KEY_PREFIX, queue, keyLayoutOf(connection)),
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_MS,
    // A dead worker's job is moved back only by a stalled check that runs after its lock expired;
    // checking every quarter of the lock bounds that at 1.25 × WORKER_LOCK_MS instead of 2 ×.
    stalledInterval: Math.max(250, Math.round(config.WORKER_LOCK_MS / 4)),
  });
  redisHealth.watch(worker, (err) => logger.error({ queue, err }, 'worker error'));
  worker.on('stalled', (runId) => logger.warn({ queue, runId }, 'run stalled: its worker died or blocked, running it again'));
  return worker;
};
const workers = new QueueWorkers({ queues: queueNames, create: createWorker, redis: connection, hasFreeSlot: () => runner.runningCount < config.WORKER_CONCURRENCY, logger });
await Promise.all(workers.all().map((worker) => worker.waitUntilReady()));
await listenForCancels(cancelSubscriber, drumlineKeys(config.KEY_PREFIX, keyLayoutOf(cancelSubscriber)), runner, logger);
logger.info({ queues: queueNames, concurrency: config.WORKER_CONCURRENCY, pid: process.pid }, 'worker ready');

const signal = await stopRequested;
logger.info({ signal, running: runner.runningCount, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: taking no more jobs');
workers.stopWatching();
const outcome = await drain(workers.all(), runner, config.SHUTDOWN_GRACE_MS, logger);
await gate.ledgerSettled();
await alerts.flush();
await metricsServer?.close();
await closeRedis(cancelSubscriber);
await flowGate.close();
await closeRedis(gateConnection);
await closeRedis(connection);
await tracing?.shutdown(); // the spans of the last runs
logger.info({ outcome }, 'worker stopped');
process.exit(0);

/** The configuration, or the end of the process with a message naming each bad variable. */
function readConfig(registry: JobRegistry): WorkerConfig {
  try {
    return loadWorkerConfig(process.env, registry);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`worker: ${error.message}\n`);
    process.exit(1);
  }
}

/** Resolves on the first SIGTERM or SIGINT. A second one ends the process at once: its jobs stall and run again elsewhere. */
function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, 'second signal: exiting without waiting for the running jobs');
        process.exit(1);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

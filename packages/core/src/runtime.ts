// What the apps share: the public API plus the framework's internals (config, Redis keys, Lua
// scripts, stores, leader election, metrics). Users' job files import `@drumline/core` only.
export * from './index.js';
export { createJobRegistry } from './job-registry.js';
export { flowKey, MAX_FLOW_KEY_LENGTH } from './flow-policy.js';
export { flowReservationOf } from './flow-enqueue.js';
export { FLOW_STALE_MS, flowWaitMs, HEAD_RECHECK_MS, MAX_FLOW_WAIT_MS } from './flow-wait.js';
export type { FlowLimit, FlowPolicy, RateLimit } from './flow-policy.js';
export { DEFAULT_JOBS_MODULE, describeDefinitionError, jobsModuleSpecifier, loadDefinitions, readJobsModule } from './load-definitions.js';
export type { LoadDefinitionsOptions, UserDefinitions } from './load-definitions.js';
export { normalizeTiming, ticksAfter, assertTimeZone } from './schedule-spec.js';
export type { NormalizedTiming } from './schedule-spec.js';
export {
  alertEnvShape,
  baseEnvSchema,
  bearerTokenEnv,
  hostPortListEnv,
  intEnv,
  listEnv,
  metricsEnvShape,
  parseEnv,
  redisEnvShape,
  replicaAcksEnvShape,
  tickLedgerEnvShape,
  tickLedgerRetention,
  requireOneReplicatedPrimary,
  requireMetricsToken,
  requireOneRedisShape,
} from './config.js';
export type { Env, HostPort, RedisEnv } from './config.js';
export { requireConsistentTracing, tracesRequested, tracingEnvShape } from './tracing/env.js';
export type { TracingEnv } from './tracing/env.js';
export { startTracing } from './tracing/start-tracing.js';
export type { Tracing } from './tracing/start-tracing.js';
export { traceContextOf, traceContextOptions } from './tracing/job-trace-context.js';
export { runSpanAttributes, SpanAttributes } from './tracing/attributes.js';
export { failSpan } from './tracing/fail-span.js';
export { createRedis, closeRedis, DEFAULT_REDIS_URL } from './redis.js';
export type { CreateRedisOptions, RedisConnection } from './redis.js';
export { RedisHealth } from './redis-health.js';
export { ReplicaAcks } from './replica-acks.js';
export type { ReplicaAcksOptions } from './replica-acks.js';
export type { RedisHealthOptions } from './redis-health.js';
export { createLogger } from './logger.js';
export type { Logger } from './logger.js';
export { QueueSet, assertValidPayload, jobOptionsFor } from './queues.js';
export type { EnqueueOptions } from './queues.js';
export { ConfigError } from './errors/config-error.js';
export { UnknownJobError } from './errors/unknown-job-error.js';
export { manualRunId, scheduledRunId, parseScheduledRunId } from './scheduled-run-id.js';
export {
  isJobId,
  isRunId,
  isScheduleId,
  jobIdSchema,
  runIdSchema,
  scheduleIdSchema,
  JOB_ID_RULE,
  MAX_JOB_ID_LENGTH,
  MAX_RUN_ID_LENGTH,
  MAX_SCHEDULE_ID_LENGTH,
  RUN_ID_RULE,
  SCHEDULE_ID_RULE,
} from './ids.js';
export { InvalidIdError } from './errors/invalid-id-error.js';
export type { ScheduledRun } from './scheduled-run-id.js';
export { drumlineKeys, keyLayoutOf, queuePrefix } from './keys.js';
export type { DrumlineKeys, KeyLayout } from './keys.js';
export { luaScript } from './scripts.js';
export { LeaderElection } from './leader-election.js';
export type { LeaderElectionEvents, LeaderElectionOptions } from './leader-election.js';
export {
  apiScheduleRecord,
  codeScheduleRecords,
  InvalidScheduleError,
  scheduleFingerprint,
  scheduleInputSchema,
  sameSchedule,
  DEFAULT_MISFIRE_CAP,
} from './schedule-record.js';
export type { ScheduleInput, ScheduleOwner, ScheduleRecord } from './schedule-record.js';
export { ScheduleStore, CodeOwnedScheduleError, UnknownScheduleError } from './schedule-store.js';
export type { ApiWriteOutcome, Cursor, LastRun, Overdue } from './schedule-store.js';
export { isMisfiredRun, lastMissedTick, missedTicksToRun, MISFIRE_THRESHOLD_MS } from './misfire.js';
export { MAX_PROMOTE_AHEAD_MS } from './promote-ahead.js';
export { jitterOffsetMs, MAX_JITTER_MS } from './schedule-jitter.js';
export { initRunId, INIT_QUEUE } from './define-init-task.js';
export {
  createAlertMetrics,
  createFlowWaitsCounter,
  createMetricsRegistry,
  createOverdueGauge,
  createQueueBacklogGauge,
  createQueueJobsGauge,
  createRedisUpGauge,
  createRunMetrics,
  createRunsCounter,
  createSchedulerMetrics,
  createTicksMissedCounter,
  QUEUE_STATES,
} from './metrics.js';
export type { QueueBacklog, QueueCounts, RunMetrics, RunOutcome, SchedulerMetrics } from './metrics.js';
export { DURATION_BUCKETS, JobRunSeries } from './run-series.js';
export { startMetricsServer } from './metrics-server.js';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.js';
export { AlertWebhook, runLink } from './alert-webhook.js';
export type { Alert, AlertInput, AlertKind, AlertWebhookOptions } from './alert-webhook.js';
export type { Registry as MetricsRegistry } from 'prom-client';
export { TickLedger, DEFAULT_TICK_LEDGER_RETENTION } from './tick-ledger/tick-ledger.js';
export type { TickLedgerEntry, TickLedgerRetention } from './tick-ledger/tick-ledger.js';
export type { LedgerTick, SkipReason as TickSkipReason, TickEvent, WithdrawReason } from './tick-ledger/tick-events.js';
export { decodeLedgerTick, encodeTickEvent, MAX_REASON_LENGTH, memberRan, memberTick } from './tick-ledger/tick-codec.js';
export { summarizeTick } from './tick-ledger/tick-summary.js';
export type { TickState, TickSummary } from './tick-ledger/tick-summary.js';
export { leaderlessAround, readLeaderHistory } from './leader-history.js';
export type { LeaderTerm, Leaderless } from './leader-history.js';
export { LEADER_TERMS_KEPT } from './leader-election.js';

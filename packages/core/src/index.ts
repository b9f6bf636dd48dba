export { defineJob, DEFAULT_QUEUE } from './define-job.js';
export type { BackoffPolicy, JobContext, JobDefinition, JobDefinitionInput, RetentionPolicy } from './define-job.js';
export { createJobRegistry } from './job-registry.js';
export type { JobDataOf, JobNameOf, JobRegistry } from './job-registry.js';
export { normalizeTiming, ticksAfter, assertTimeZone } from './schedule-spec.js';
export type {
  MisfirePolicy,
  NormalizedTiming,
  OverlapPolicy,
  ScheduleDeclaration,
  SchedulePolicies,
  ScheduleTiming,
} from './schedule-spec.js';
export { baseEnvSchema, intEnv, listEnv, parseEnv } from './config.js';
export type { Env } from './config.js';
export { createRedis, closeRedis } from './redis.js';
export { createLogger } from './logger.js';
export type { Logger } from './logger.js';
export { QueueSet, assertValidPayload, jobOptionsFor } from './queues.js';
export type { EnqueueOptions } from './queues.js';
export * from './errors/index.js';
export { scheduledRunId, parseScheduledRunId } from './scheduled-run-id.js';

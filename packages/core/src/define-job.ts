import type { Logger } from 'pino';
import type { z } from 'zod';
import { callerFile, recordDefinitionSite } from './definition-site.js';
import { JobDefinitionError } from './errors/index.js';
import { checkedFlowPolicy, type FlowDeclarations, type FlowPolicy } from './flow-policy.js';
import { MAX_JITTER_MS } from './schedule-jitter.js';
import { assertScheduleId, normalizeTiming, type NormalizedTiming, type ScheduleDeclaration } from './schedule-spec.js';

/** What a handler gets besides its payload. */
export interface JobContext {
  /** The BullMQ job id of this run. */
  readonly jobId: string;
  readonly jobName: string;
  /** 1 on the first try, 2 on the first retry, and so on. */
  readonly attempt: number;
  /** A pino logger bound to job, run id, attempt and schedule. */
  readonly logger: Logger;
  /** Aborts when the run times out and when the worker shuts down: pass it to fetch, streams, queries. */
  readonly signal: AbortSignal;
  /** The schedule that produced this run, if any. */
  readonly scheduleId: string | undefined;
  /** The nominal tick time of a scheduled run: use it to make side effects idempotent. */
  readonly scheduledFor: Date | undefined;
  /** Reports progress (a percentage or any JSON object), visible in the dashboard and the API. */
  progress(value: number | object): Promise<void>;
  /** Appends a line to the run's log, visible in the dashboard and the API. */
  log(line: string): Promise<void>;
}

export interface BackoffPolicy {
  type: 'fixed' | 'exponential';
  /** The first retry's delay in ms; exponential doubles it each attempt. */
  delayMs: number;
}

export interface RetentionPolicy {
  /** Keep finished runs at most this many seconds. */
  ageSeconds: number;
  /** Keep at most this many finished runs. */
  count?: number;
}

export interface JobDefinitionInput<Name extends string, Schema extends z.ZodType> extends FlowDeclarations<z.output<Schema>> {
  /** Unique job name: lowercase letters, digits and dashes. */
  name: Name;
  /** The BullMQ queue its runs go to (default `default`); give slow jobs their own queue and worker pool. */
  queue?: string;
  /** A zod schema: the single source of the payload's type, its HTTP validation and its OpenAPI document. */
  schema: Schema;
  handler: (data: z.output<Schema>, context: JobContext) => Promise<unknown> | unknown;
  /** Tries in all, including the first (default 3). A payload that fails its schema is never retried. */
  attempts?: number;
  /** Delay between tries (default exponential from 1 s). */
  backoff?: BackoffPolicy;
  /** A run taking longer fails with JobTimeoutError and its signal aborts (default 5 minutes). */
  timeoutMs?: number;
  /** How long finished runs stay visible (defaults: completed 24 h or the last 1000, failed 7 days). */
  retention?: { completed?: Partial<RetentionPolicy>; failed?: Partial<RetentionPolicy> };
  /** Schedules that enqueue this job; their `data` is checked against `schema` at start-up. */
  schedules?: ScheduleDeclaration<z.input<Schema>>[];
}

/**
 * A schedule as `defineJob` keeps it: as declared, plus its checked timing in normalized form, so
 * nothing validates it again. `timing` is not enumerable: the schedule still reads and serializes
 * as it was written.
 */
export type DefinedSchedule<Data = unknown> = Readonly<ScheduleDeclaration<Data>> & { readonly timing: NormalizedTiming };

/** A job as the framework sees it: every option resolved, frozen. */
export interface JobDefinition<Name extends string = string, Schema extends z.ZodType = z.ZodType> {
  readonly name: Name;
  readonly queue: string;
  readonly schema: Schema;
  readonly handler: (data: z.output<Schema>, context: JobContext) => Promise<unknown> | unknown;
  readonly attempts: number;
  readonly backoff: Readonly<BackoffPolicy>;
  readonly timeoutMs: number;
  readonly retention: { readonly completed: Readonly<RetentionPolicy>; readonly failed: Readonly<RetentionPolicy> };
  readonly schedules: readonly DefinedSchedule<z.input<Schema>>[];
  /** Concurrency and rate limits, dedupe and debounce, as declared and checked. */
  readonly flow: FlowPolicy;
}

export const DEFAULT_QUEUE = 'default';
const JOB_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** The most catch-up runs `misfire: 'all'` may make after an outage. */
export const MAX_MISFIRE_CAP = 10_000;

function positiveInteger(value: number, what: string, owner: string): number {
  if (!Number.isInteger(value) || value < 1) throw new JobDefinitionError(`${owner}: ${what} must be a whole number of at least 1 (got ${value})`);
  return value;
}

/**
 * Defines a job: a zod payload schema, a handler, and how it retries, times out and is scheduled.
 * Checks everything it can at once and throws a JobDefinitionError naming the job.
 */
export function defineJob<const Name extends string, Schema extends z.ZodType>(
  input: JobDefinitionInput<Name, Schema>,
): JobDefinition<Name, Schema> {
  const file = callerFile();
  try {
    const job = checkedJob(input);
    recordDefinitionSite(job, file);
    return job;
  } catch (error) {
    if (error instanceof JobDefinitionError) error.file ??= file;
    throw error;
  }
}

function checkedJob<const Name extends string, Schema extends z.ZodType>(input: JobDefinitionInput<Name, Schema>): JobDefinition<Name, Schema> {
  const owner = `job \`${input.name}\``;
  if (!JOB_NAME.test(input.name)) {
    throw new JobDefinitionError(`${owner}: a job name is 1-64 lowercase letters, digits and dashes, starting with a letter or digit`);
  }
  const queue = input.queue ?? DEFAULT_QUEUE;
  if (!QUEUE_NAME.test(queue)) {
    throw new JobDefinitionError(`${owner}: queue \`${queue}\` must be 1-64 letters, digits, '_' or '-'`);
  }
  const backoff = input.backoff ?? { type: 'exponential', delayMs: 1000 };
  if (!Number.isInteger(backoff.delayMs) || backoff.delayMs < 0) {
    throw new JobDefinitionError(`${owner}: backoff.delayMs must be a whole number of ms, 0 or more`);
  }
  const schedules = (input.schedules ?? []).map((schedule) => {
    const scheduleOwner = `${owner}, schedule \`${schedule.id}\``;
    assertScheduleId(schedule.id, scheduleOwner);
    const timing = normalizeTiming(schedule, scheduleOwner);
    const parsed = input.schema.safeParse(schedule.data ?? {});
    if (!parsed.success) {
      const fields = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
      throw new JobDefinitionError(`${scheduleOwner}: its data does not satisfy the job's schema: ${fields}`);
    }
    // The same bounds as PUT /api/schedules/:id (scheduleInputSchema), so code and API agree.
    if (schedule.misfireCap !== undefined && positiveInteger(schedule.misfireCap, 'misfireCap', scheduleOwner) > MAX_MISFIRE_CAP) {
      throw new JobDefinitionError(`${scheduleOwner}: misfireCap must be at most ${MAX_MISFIRE_CAP} (got ${schedule.misfireCap})`);
    }
    if (schedule.jitterMs !== undefined && (!Number.isInteger(schedule.jitterMs) || schedule.jitterMs < 0 || schedule.jitterMs > MAX_JITTER_MS)) {
      throw new JobDefinitionError(`${scheduleOwner}: jitterMs must be a whole number of ms from 0 to ${MAX_JITTER_MS} (got ${schedule.jitterMs})`);
    }
    if (schedule.misfireGraceMs !== undefined && (!Number.isInteger(schedule.misfireGraceMs) || schedule.misfireGraceMs < 0)) {
      throw new JobDefinitionError(`${scheduleOwner}: misfireGraceMs must be a whole number of ms, 0 or more (got ${schedule.misfireGraceMs})`);
    }
    return Object.freeze(Object.defineProperty({ ...schedule }, 'timing', { value: Object.freeze(timing), enumerable: false }) as DefinedSchedule<z.input<Schema>>);
  });
  const seen = new Set<string>();
  for (const schedule of schedules) {
    if (seen.has(schedule.id)) throw new JobDefinitionError(`${owner}: schedule id \`${schedule.id}\` is declared twice`);
    seen.add(schedule.id);
  }
  return Object.freeze({
    name: input.name,
    queue,
    schema: input.schema,
    handler: input.handler,
    attempts: positiveInteger(input.attempts ?? 3, 'attempts', owner),
    backoff: Object.freeze({ ...backoff }),
    timeoutMs: positiveInteger(input.timeoutMs ?? 5 * 60_000, 'timeoutMs', owner),
    retention: Object.freeze({
      completed: Object.freeze({ ageSeconds: 24 * 3600, count: 1000, ...input.retention?.completed }),
      failed: Object.freeze({ ageSeconds: 7 * 24 * 3600, ...input.retention?.failed }),
    }),
    schedules: Object.freeze(schedules),
    flow: checkedFlowPolicy(input as FlowDeclarations<never>, owner),
  });
}

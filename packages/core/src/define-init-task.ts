import { z } from 'zod';
import { defineJob, type JobContext, type JobDefinition } from './define-job.js';

/** The queue init tasks run on; every worker consumes it, whatever WORKER_QUEUES says. */
export const INIT_QUEUE = 'drumline-init';

const initPayload = z.object({ release: z.string().min(1) });

export interface InitTaskContext extends JobContext {
  /** The release (RELEASE env of the scheduler) this run is for. */
  readonly release: string;
}

export interface InitTaskInput<Name extends string> {
  name: Name;
  handler: (context: InitTaskContext) => Promise<unknown> | unknown;
  /** Tries in all (default 5); a task that fails them all is visible in the dashboard and holds readiness. */
  attempts?: number;
  /** Default 30 minutes: migrations and model downloads are slow. */
  timeoutMs?: number;
}

export type InitTaskDefinition<Name extends string = string> = JobDefinition<Name, typeof initPayload>;

/**
 * Defines work that must run exactly once per release across the whole deployment, before
 * schedules fire: migrations, seeding, model downloads. The leading scheduler enqueues the tasks
 * one after another in list order; workers run them; the web's /readyz answers 503 until all are done.
 */
export function defineInitTask<const Name extends string>(input: InitTaskInput<Name>): InitTaskDefinition<Name> {
  return defineJob({
    name: input.name,
    queue: INIT_QUEUE,
    schema: initPayload,
    attempts: input.attempts ?? 5,
    backoff: { type: 'exponential', delayMs: 5000 },
    timeoutMs: input.timeoutMs ?? 30 * 60_000,
    // Kept for a year: the stored job is part of what makes the task run once per release.
    retention: { completed: { ageSeconds: 365 * 86_400, count: 10_000 }, failed: { ageSeconds: 365 * 86_400 } },
    // The context may be a class instance whose members live on its prototype: copy them by name.
    handler: ({ release }, context) =>
      input.handler({
        jobId: context.jobId,
        jobName: context.jobName,
        attempt: context.attempt,
        logger: context.logger,
        signal: context.signal,
        scheduleId: context.scheduleId,
        scheduledFor: context.scheduledFor,
        progress: (value) => context.progress(value),
        log: (line) => context.log(line),
        release,
      }),
  });
}

/** The job id of an init task's run for a release: one per task and release. */
export function initRunId(taskName: string, release: string): string {
  return `init.${taskName}.${release}`;
}

import type { JobDefinition, Logger } from '@drumline/core/runtime';
import type { Job } from 'bullmq';

/** A scheduled run about to start: what a gate needs to decide whether it may. */
export interface ScheduledRun {
  readonly job: Job;
  /** The worker's lock token for `job`, for BullMQ calls such as `job.moveToDelayed(at, token)`. */
  readonly token: string | undefined;
  readonly definition: JobDefinition;
  readonly scheduleId: string;
  readonly scheduledFor: Date;
  readonly logger: Logger;
  /** It waited for its job's concurrency or rate limit first: late by design, never a misfire. */
  readonly lateByDesign?: boolean;
}

/** How an admitted scheduled run ended, as told to its gate's `release`. */
export type ScheduledRunOutcome =
  | { readonly state: 'completed' }
  | { readonly state: 'failed'; readonly reason: string; readonly willRetry: boolean }
  /** The worker shut down mid-run: the run went back to its queue and will start again. */
  | { readonly state: 'requeued' };

/** A gate's answer: run the handler (and call `release` once the run ends, however it ends), or don't. */
export type ScheduledRunAdmission =
  | {
      readonly admit: true;
      /** When the run was due (ms): its tick, or later for a jittered schedule; lateness counts from it. */
      readonly dueAt?: number;
      readonly release?: (outcome: ScheduledRunOutcome) => Promise<void>;
    }
  /** The run completes at once with `result` as its return value, without calling the handler. */
  | { readonly admit: false; readonly result: unknown };

/**
 * Called before the handler of every scheduled run (job id `<scheduleId>@<tick>`), never for
 * on-demand runs. This is the seam for a schedule's overlap policy: `skip` answers `admit: false`,
 * `queue` moves the job with `job.moveToDelayed(at, token)` and throws BullMQ's `DelayedError`.
 * Whatever else it throws fails the attempt like a handler error would. `release` is where the
 * lock is let go and the schedule's last run recorded.
 */
export type BeforeScheduledRun = (run: ScheduledRun) => Promise<ScheduledRunAdmission>;

const admitted: ScheduledRunAdmission = Object.freeze({ admit: true });

/** Lets every scheduled run start, however many of the same schedule are running. */
export const admitEveryRun: BeforeScheduledRun = async () => admitted;

import type { Logger } from '@drumline/core/runtime';
import type { Worker } from 'bullmq';
import { WorkerShutdownError } from './errors/worker-shutdown-error.js';
import type { JobRunner } from './job-runner.js';

/** After the runs are aborted, how long BullMQ gets to put them back in their queues. */
const REQUEUE_MS = 5_000;

/** How a drain ended. */
export type DrainOutcome =
  /** Every running job finished within the grace period. */
  | 'finished'
  /** Jobs still running at the end of the grace period were aborted and put back in their queues. */
  | 'requeued'
  /** BullMQ could not even put them back (Redis gone?): their locks expire and another worker's stalled check runs them again. */
  | 'abandoned';

/**
 * Stops the workers taking jobs and lets the running ones finish within `graceMs`; then aborts
 * their signals and gives up waiting. Nothing is lost either way: an aborted run goes back to
 * its queue, and one BullMQ could not record becomes stalled and runs again elsewhere.
 */
export async function drain(workers: readonly Worker[], runner: JobRunner, graceMs: number, logger: Logger): Promise<DrainOutcome> {
  const closed = Promise.all(workers.map((worker) => worker.close()));
  if (await settlesWithin(closed, graceMs)) return 'finished';
  logger.warn({ running: runner.runningCount, graceMs }, 'grace period over: aborting the running jobs and putting them back in their queues');
  runner.stopAll(new WorkerShutdownError(graceMs));
  return (await settlesWithin(closed, REQUEUE_MS)) ? 'requeued' : 'abandoned';
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

import type { AlertWebhook } from '@drumline/core/runtime';
import type { FinalFailure } from './job-runner.js';

/** The JobRunner's `onFinalFailure` hook: one `run-failed` alert, not awaited, so a slow webhook never holds up the next job. */
export function alertOnFinalFailure(alerts: AlertWebhook): (failure: FinalFailure) => void {
  return (failure) =>
    void alerts.send({
      kind: 'run-failed',
      job: failure.job,
      queue: failure.queue,
      runId: failure.runId,
      schedule: failure.scheduleId ?? null,
      tick: failure.scheduledFor?.toISOString() ?? null,
      reason: failure.reason,
      attempts: failure.attempts,
    });
}

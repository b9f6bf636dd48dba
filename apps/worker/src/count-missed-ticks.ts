import type { BeforeScheduledRun } from './scheduled-run-gate.js';

/**
 * Wraps a gate so that ticks it drops for being too late (its `{ skipped: 'missed' }` result, the
 * run's return value) count in `drumline_ticks_missed_total`: when the workers were down, the
 * worker that comes back is the one that finds the misfire, not the scheduler.
 */
export function countMissedTicks(gate: BeforeScheduledRun, ticksMissed: { labels(schedule: string): { inc(): void } }): BeforeScheduledRun {
  return async (run) => {
    const admission = await gate(run);
    if (!admission.admit && (admission.result as { skipped?: unknown } | null)?.skipped === 'missed') ticksMissed.labels(run.scheduleId).inc();
    return admission;
  };
}

import type { AlertWebhook, DrumlineKeys, Logger, ScheduleRecord, SchedulerMetrics, RedisConnection } from '@drumline/core/runtime';
import { alertOnce } from './alert-once.js';
import type { OverdueWatcher } from './overdue-watcher.js';

export interface MissedTicksDeps {
  redis: RedisConnection;
  keys: DrumlineKeys;
  alerts: AlertWebhook;
  logger: Logger;
  metrics: Pick<SchedulerMetrics, 'ticksMissed' | 'stalled'>;
  overdueWatcher: Pick<OverdueWatcher, 'ticksMissed'>;
}

/**
 * The Materializer's `onMissed` hook: counts the ticks a misfire policy dropped, tells the
 * dead-man's switch (they are missed, not overdue), and sends one alert per batch, not per tick:
 * an hour-long outage of a one-second schedule is one page.
 */
export function reportMissedTicks(deps: MissedTicksDeps): (schedule: ScheduleRecord, ticks: number[]) => void {
  return (schedule, ticks) => {
    const [first, last] = [ticks[0], ticks[ticks.length - 1]];
    if (first === undefined || last === undefined) return;
    deps.metrics.ticksMissed.labels(schedule.id).inc(ticks.length);
    deps.overdueWatcher.ticksMissed(schedule.id, last);
    const from = new Date(first).toISOString();
    void alertOnce(deps, `missed:${schedule.id}@${first}`, {
      kind: 'ticks-missed',
      job: schedule.job,
      runId: null,
      schedule: schedule.id,
      tick: from,
      reason: `${ticks.length} tick(s) from ${from} to ${new Date(last).toISOString()} dropped by misfire policy \`${schedule.misfire}\``,
      attempts: null,
    });
  };
}

/**
 * The Materializer's `onStalled` hook: a schedule that can fire but has no next tick is a bug in
 * the time engine. Counted and alerted (once per schedule and instant, across failovers), never silent.
 */
export function reportStalledSchedule(deps: MissedTicksDeps): (schedule: ScheduleRecord, after: number) => void {
  return (schedule, after) => {
    deps.metrics.stalled.labels(schedule.id).inc();
    const from = new Date(after).toISOString();
    void alertOnce(deps, `stalled:${schedule.id}@${after}`, {
      kind: 'schedule-stalled',
      job: schedule.job,
      runId: null,
      schedule: schedule.id,
      tick: null,
      reason: `no tick after ${from} for ${JSON.stringify(schedule.timing)}; the schedule will not fire until this is fixed`,
      attempts: null,
    });
  };
}

import type { Schedule } from '@drumline/client';
import type { NormalizedTiming, ScheduleRecord } from '@drumline/core/runtime';

/** The timing of a schedule as the API shows it, in the normalized form core computes ticks from. */
export function timingOf(schedule: Schedule): NormalizedTiming {
  const { spec } = schedule;
  if (spec.cron !== undefined) return { kind: 'cron', cron: spec.cron, tz: schedule.tz ?? 'UTC' };
  if (spec.every !== undefined) return { kind: 'every', everyMs: spec.every };
  if (spec.at !== undefined) return { kind: 'at', atMs: Date.parse(spec.at) };
  throw new Error(`schedule \`${schedule.id}\` has no cron, every or at in its spec`);
}

/**
 * The stored record behind a schedule the API shows, so core's `sameSchedule` and
 * `scheduleFingerprint` compare it with code as the scheduler's reconciliation does. Keys are in
 * the order core writes records, since both compare JSON.
 */
export function recordOf(schedule: Schedule): ScheduleRecord {
  return {
    id: schedule.id,
    job: schedule.job,
    timing: timingOf(schedule),
    data: schedule.data,
    misfire: schedule.misfire,
    misfireCap: schedule.misfireCap,
    misfireGraceMs: schedule.misfireGraceMs,
    overlap: schedule.overlap,
    ...(schedule.jitterMs ? { jitterMs: schedule.jitterMs } : {}),
    owner: schedule.owner,
  };
}

/** `cron 30 9 * * 1-5 (Europe/Berlin)`, `every 30m`, `at 2026-12-01T09:00:00Z`. */
export function describeTiming(timing: NormalizedTiming): string {
  if (timing.kind === 'cron') return `cron ${timing.cron} (${timing.tz})`;
  if (timing.kind === 'every') return `every ${everyText(timing.everyMs)}`;
  return `at ${new Date(timing.atMs).toISOString().replace(/\.000Z$/, 'Z')}`;
}

function everyText(everyMs: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (everyMs % size === 0) return `${everyMs / size}${unit}`;
  }
  return `${everyMs}ms`;
}

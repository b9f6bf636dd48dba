import type { ScheduleRecord } from './schedule-record.js';
import { ticksAfter } from './schedule-spec.js';

/** A tick more than this late when first seen counts as missed, not merely late. */
export const MISFIRE_THRESHOLD_MS = 5_000;

/** The latest tick that counts as missed at `nowMs`: one more than the threshold late (ticks are whole ms). */
export function lastMissedTick(nowMs: number): number {
  return nowMs - MISFIRE_THRESHOLD_MS - 1;
}

/**
 * Which of a schedule's missed ticks (oldest first) still run, per its policy: `skip` none,
 * `once` the newest, `all` the newest `misfireCap`. Ticks older than `misfireGraceMs` never run.
 */
export function missedTicksToRun(record: ScheduleRecord, missed: number[], nowMs: number): number[] {
  const inGrace = record.misfireGraceMs === null ? missed : missed.filter((tick) => nowMs - tick <= (record.misfireGraceMs as number));
  if (record.misfire === 'skip' || inGrace.length === 0) return [];
  if (record.misfire === 'once') return [inGrace[inGrace.length - 1] as number];
  return inGrace.slice(-record.misfireCap);
}

/**
 * Whether a run of `tickMs` that only starts at `nowMs` (workers were down) should be dropped
 * under the schedule's misfire policy; the worker asks this before running a late tick.
 */
export function isMisfiredRun(record: ScheduleRecord, tickMs: number, nowMs: number): boolean {
  if (nowMs - tickMs <= MISFIRE_THRESHOLD_MS) return false;
  const laterDue = ticksAfter(record.timing, tickMs, record.misfireCap + 1, lastMissedTick(nowMs));
  const all = [tickMs, ...laterDue];
  return !missedTicksToRun(record, all, nowMs).includes(tickMs);
}

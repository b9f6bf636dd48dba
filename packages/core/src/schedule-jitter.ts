/** The largest `jitterMs` a schedule may have: below SCHEDULE_OVERDUE_MS's default, so a jittered run is never overdue for it. */
export const MAX_JITTER_MS = 30_000;

/**
 * How long after its tick a schedule's run is due: a deterministic offset in [0, jitterMs) from
 * the schedule id and the tick (FNV-1a), so every leader, before or after a failover, puts the
 * same tick at the same time, and the runs due at :00 spread over the window.
 */
export function jitterOffsetMs(scheduleId: string, tickMs: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  let hash = 0x811c9dc5;
  for (const char of `${scheduleId}@${tickMs}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % jitterMs;
}

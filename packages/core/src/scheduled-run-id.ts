/**
 * A scheduled run's BullMQ job id is `<scheduleId>@<nominal tick in epoch ms>`: deterministic, so
 * two schedulers adding the same tick produce one job, and the worker and the API read the
 * schedule and tick back from the id alone. (BullMQ refuses ':' in custom ids.)
 */
export function scheduledRunId(scheduleId: string, tickMs: number): string {
  return `${scheduleId}@${tickMs}`;
}

const SCHEDULED_RUN_ID = /^(.+)@(\d+)$/;

/** The schedule and nominal tick a run was made for, or undefined for an on-demand run. */
export function parseScheduledRunId(id: string | undefined): { scheduleId: string; scheduledFor: Date } | undefined {
  const match = id ? SCHEDULED_RUN_ID.exec(id) : null;
  if (!match) return undefined;
  return { scheduleId: match[1] as string, scheduledFor: new Date(Number(match[2])) };
}

/**
 * A scheduled run's BullMQ job id is `<scheduleId>@<nominal tick in epoch ms>`: deterministic, so
 * two schedulers adding the same tick produce one job, and the worker and the API read the
 * schedule and tick back from the id alone. (BullMQ refuses ':' in custom ids.)
 */
export function scheduledRunId(scheduleId: string, tickMs: number): string {
  return `${scheduleId}@${tickMs}`;
}

/** A run triggered by hand ("run now"): `<scheduleId>@<ms>.manual`, never equal to a tick's id. */
export function manualRunId(scheduleId: string, nowMs: number): string {
  return `${scheduleId}@${nowMs}.manual`;
}

const SCHEDULED_RUN_ID = /^(.+)@(\d+)(\.manual)?$/;

export interface ScheduledRun {
  scheduleId: string;
  /** The nominal tick; for a manual run, when it was triggered. */
  scheduledFor: Date;
  manual: boolean;
}

/** The schedule and nominal tick a run was made for, or undefined for an on-demand run. */
export function parseScheduledRunId(id: string | undefined): ScheduledRun | undefined {
  const match = id ? SCHEDULED_RUN_ID.exec(id) : null;
  if (!match) return undefined;
  return { scheduleId: match[1] as string, scheduledFor: new Date(Number(match[2])), manual: match[3] !== undefined };
}

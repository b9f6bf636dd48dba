import { DrumlineError } from '@drumline/core/runtime';

/** A backfill of a paused schedule: its runs would all be skipped as paused. */
export class SchedulePausedError extends DrumlineError {
  readonly code = 'DRUMLINE_SCHEDULE_PAUSED';

  constructor(readonly scheduleId: string) {
    super(`schedule \`${scheduleId}\` is paused: resume it before backfilling it`);
  }
}

import { DrumlineError } from '@drumline/core/runtime';

/** The time asked for is not one of the schedule's ticks, and its ledger has no record of it. */
export class UnknownTickError extends DrumlineError {
  readonly code = 'DRUMLINE_UNKNOWN_TICK';

  constructor(
    readonly scheduleId: string,
    readonly tick: number,
  ) {
    super(`${new Date(tick).toISOString()} is not a tick of schedule \`${scheduleId}\` (by its timing now), and its ledger has no record of it; list its ticks with GET /api/schedules/${scheduleId}/ticks`);
  }
}

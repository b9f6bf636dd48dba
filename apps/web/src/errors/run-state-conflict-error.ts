import { DrumlineError } from '@drumline/core/runtime';

/** The run exists but its state does not allow what was asked (retrying a run that did not fail, deleting an unfinished one). */
export class RunStateConflictError extends DrumlineError {
  readonly code = 'DRUMLINE_RUN_STATE_CONFLICT';

  constructor(
    readonly runId: string,
    readonly state: string,
    action: string,
  ) {
    super(`run \`${runId}\` is ${state}: ${action}`);
  }
}

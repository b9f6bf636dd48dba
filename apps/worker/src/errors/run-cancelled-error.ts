import { DrumlineError } from '@drumline/core/runtime';

/** Someone cancelled the run (POST /api/jobs/:name/runs/:id/cancel): it fails for good, never retried. */
export class RunCancelledError extends DrumlineError {
  readonly code = 'DRUMLINE_RUN_CANCELLED';

  constructor(readonly reason: string) {
    super(`cancelled: ${reason}`);
  }
}

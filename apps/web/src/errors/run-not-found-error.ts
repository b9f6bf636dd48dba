import { DrumlineError } from '@drumline/core/runtime';

/** No run of that job has this id: it never existed, belongs to another job, or its retention expired. */
export class RunNotFoundError extends DrumlineError {
  readonly code = 'DRUMLINE_RUN_NOT_FOUND';

  constructor(
    readonly jobName: string,
    readonly runId: string,
  ) {
    super(`job \`${jobName}\` has no run with id \`${runId}\` (finished runs are kept only as long as the job's retention says)`);
  }
}

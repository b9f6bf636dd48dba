import { DrumlineError } from './drumline-error.js';

/** No job of that name is registered. */
export class UnknownJobError extends DrumlineError {
  readonly code = 'DRUMLINE_UNKNOWN_JOB';

  constructor(readonly jobName: string) {
    super(`no job named \`${jobName}\` is defined in packages/jobs`);
  }
}

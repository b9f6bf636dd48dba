import { DrumlineError } from './drumline-error.js';

/** A run took longer than its job's `timeoutMs`; its signal was aborted. */
export class JobTimeoutError extends DrumlineError {
  readonly code = 'DRUMLINE_JOB_TIMEOUT';

  constructor(
    readonly jobName: string,
    readonly timeoutMs: number,
  ) {
    super(`job \`${jobName}\` timed out after ${timeoutMs} ms`);
  }
}

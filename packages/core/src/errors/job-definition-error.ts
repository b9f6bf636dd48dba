import { DrumlineError } from './drumline-error.js';

/** A job, schedule or init task in code is defined wrongly; found at start-up, names the job. */
export class JobDefinitionError extends DrumlineError {
  readonly code = 'DRUMLINE_JOB_DEFINITION';
}

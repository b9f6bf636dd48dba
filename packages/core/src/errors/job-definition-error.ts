import { DrumlineError } from './drumline-error.js';

/** A job, schedule or init task in code is defined wrongly; found at start-up, names the job. */
export class JobDefinitionError extends DrumlineError {
  readonly code = 'DRUMLINE_JOB_DEFINITION';
  /** The file (or files) the definition is in, when known. */
  file: string | undefined;

  constructor(message: string, options?: ErrorOptions & { file?: string | undefined }) {
    super(message, options);
    this.file = options?.file;
  }
}

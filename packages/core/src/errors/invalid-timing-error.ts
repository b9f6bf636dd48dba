import { JobDefinitionError } from './job-definition-error.js';

/** The timing field a schedule got wrong. */
export type TimingField = 'cron' | 'tz' | 'every' | 'at';

/** A schedule's `cron`, `tz`, `every` or `at` is wrong; `field` says which, so the API can name it. */
export class InvalidTimingError extends JobDefinitionError {
  constructor(
    readonly field: TimingField,
    message: string,
  ) {
    super(message);
  }
}

import { DrumlineError } from './drumline-error.js';
import type { PayloadIssue } from './invalid-payload-error.js';

/** An id given for a run or a schedule is outside Drumline's id alphabet; the message states the rule. */
export class InvalidIdError extends DrumlineError {
  readonly code = 'DRUMLINE_INVALID_ID';
  /** The one field at fault, in the shape the HTTP layer answers. */
  readonly issues: PayloadIssue[];

  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field} must be ${rule}`);
    this.issues = [{ path: field, message: `must be ${rule}` }];
  }
}

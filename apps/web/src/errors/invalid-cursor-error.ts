import { DrumlineError } from '@drumline/core/runtime';

/** A `cursor` query parameter that this server did not hand out, or handed out for another filter. */
export class InvalidCursorError extends DrumlineError {
  readonly code = 'DRUMLINE_INVALID_CURSOR';
  readonly issues: { path: string; message: string }[];

  constructor(problem: string) {
    super(`invalid querystring: cursor: ${problem}`);
    this.issues = [{ path: 'cursor', message: problem }];
  }
}

import { DrumlineError } from '@drumline/core/runtime';

/** A JSON body nests objects and arrays deeper than the server takes. */
export class BodyTooDeepError extends DrumlineError {
  readonly code = 'DRUMLINE_BODY_TOO_DEEP';

  constructor(readonly maxDepth: number) {
    super(`the JSON body nests objects and arrays more than ${maxDepth} levels deep (the body itself is the first); send a flatter document`);
  }
}

import { DrumlineError } from '@drumline/core/runtime';

/** A JSON body holds a string with half of a UTF-16 surrogate pair (a `\ud800` escape alone). */
export class UnpairedSurrogateError extends DrumlineError {
  readonly code = 'DRUMLINE_UNPAIRED_SURROGATE';
  readonly issues: { path: string; message: string }[];

  constructor(path: string) {
    const problem = 'holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is no Unicode text: Redis scripts cannot read it back';
    super(`the JSON body's ${path || '(root)'} ${problem}`);
    this.issues = [{ path, message: problem }];
  }
}

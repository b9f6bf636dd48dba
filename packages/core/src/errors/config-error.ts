import { DrumlineError } from './drumline-error.js';

/** An environment variable is missing or malformed; the message names each variable. */
export class ConfigError extends DrumlineError {
  readonly code = 'DRUMLINE_CONFIG';

  constructor(
    message: string,
    readonly variables: readonly string[],
  ) {
    super(message);
  }
}

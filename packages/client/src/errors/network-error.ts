import { DrumlineClientError } from './drumline-client-error.js';

/** The API could not be reached (refused, reset, DNS), after every retry the call allows; `cause` has the system error. */
export class NetworkError extends DrumlineClientError {
  readonly code = 'DRUMLINE_CLIENT_NETWORK';

  constructor(
    readonly method: string,
    readonly url: string,
    options?: ErrorOptions,
  ) {
    const cause = options?.cause instanceof Error ? (options.cause.cause instanceof Error ? options.cause.cause : options.cause) : undefined;
    super(`${method} ${url} could not reach the Drumline API${cause ? `: ${cause.message}` : ''}`, options);
  }
}

import { DrumlineClientError } from './drumline-client-error.js';

/** No answer within the request's timeout (createClient's `timeoutMs`), after every retry the call allows. */
export class RequestTimeoutError extends DrumlineClientError {
  readonly code = 'DRUMLINE_CLIENT_TIMEOUT';

  constructor(
    readonly method: string,
    readonly path: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`${method} ${path} had no answer within ${timeoutMs} ms`, options);
  }
}

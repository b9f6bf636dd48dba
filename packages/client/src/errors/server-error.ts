import { ApiError } from './api-error.js';

/** The API failed (5xx), or answered another status the client has no class for (429 once retries ran out, for one). */
export class ServerError extends ApiError {
  readonly code = 'DRUMLINE_CLIENT_SERVER_ERROR';
}

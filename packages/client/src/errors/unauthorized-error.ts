import { ApiError } from './api-error.js';

/** The API refused the token (401 or 403): check the `token` given to createClient against the web's API_TOKEN. */
export class UnauthorizedError extends ApiError {
  readonly code = 'DRUMLINE_CLIENT_UNAUTHORIZED';
}

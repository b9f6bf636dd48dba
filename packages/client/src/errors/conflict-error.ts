import { ApiError } from './api-error.js';

/**
 * The request does not fit the current state (409): cancelling a finished run, retrying one that
 * has not failed, deleting an unfinished one, or changing a schedule declared in code.
 */
export class ConflictError extends ApiError {
  readonly code = 'DRUMLINE_CLIENT_CONFLICT';
}

import { ApiError } from './api-error.js';

/** No such job, run or schedule (404): `apiCode` says which, for example `DRUMLINE_RUN_NOT_FOUND`. */
export class NotFoundError extends ApiError {
  readonly code = 'DRUMLINE_CLIENT_NOT_FOUND';
}

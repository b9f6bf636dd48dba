import { ApiError, type ApiErrorAnswer, type ApiIssue } from './api-error.js';

/** The API refused the request as sent (400, or 413 for a body above 1 MiB); `issues` names each field at fault. */
export class InvalidRequestError extends ApiError {
  readonly code = 'DRUMLINE_CLIENT_INVALID_REQUEST';
  /** Each field at fault, such as `{ path: 'data.to', message: 'Invalid email address' }`; empty when the API named none. */
  readonly issues: ApiIssue[];

  constructor(answer: ApiErrorAnswer) {
    super(answer);
    this.issues = answer.issues ?? [];
  }
}

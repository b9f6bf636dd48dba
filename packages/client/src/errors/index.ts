export { DrumlineClientError } from './drumline-client-error.js';
export { ApiError, type ApiErrorAnswer, type ApiIssue } from './api-error.js';
export { InvalidRequestError } from './invalid-request-error.js';
export { NotFoundError } from './not-found-error.js';
export { UnauthorizedError } from './unauthorized-error.js';
export { ConflictError } from './conflict-error.js';
export { ServerError } from './server-error.js';
export { RequestTimeoutError } from './request-timeout-error.js';
export { NetworkError } from './network-error.js';

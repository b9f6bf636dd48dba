import { DrumlineClientError } from './drumline-client-error.js';

/** A field the API found at fault, as in its `{ error, message, issues }` answers. */
export interface ApiIssue {
  path: string;
  message: string;
}

/** What the API answered with an error status: its JSON error shape, plus where it was asked. */
export interface ApiErrorAnswer {
  status: number;
  /** The API's own stable code, such as `DRUMLINE_UNKNOWN_JOB`. */
  apiCode: string;
  message: string;
  issues?: ApiIssue[];
  method: string;
  path: string;
}

/** The API answered with an error status; the subclass says which kind. */
export abstract class ApiError extends DrumlineClientError {
  readonly status: number;
  /** The API's own stable code, such as `DRUMLINE_UNKNOWN_JOB` or `DRUMLINE_RUN_NOT_FOUND`. */
  readonly apiCode: string;
  readonly method: string;
  readonly path: string;

  constructor(answer: ApiErrorAnswer) {
    super(`${answer.method} ${answer.path} answered ${answer.status} ${answer.apiCode}: ${answer.message}`);
    this.status = answer.status;
    this.apiCode = answer.apiCode;
    this.method = answer.method;
    this.path = answer.path;
  }
}

import {
  ConflictError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  RequestTimeoutError,
  ServerError,
  UnauthorizedError,
} from '@drumline/client';

/** What `drumline` exits with; scripts may rely on these (the README lists them). */
export const ExitCode = {
  ok: 0,
  /** A usage error (unknown command or option, bad value), or anything unexpected. */
  usage: 1,
  /** No such job, run or schedule. */
  notFound: 2,
  /** The API refused the request: invalid payload or range (400), or a conflict with the run's or schedule's state (409). */
  refused: 3,
  /** The API refused the token. */
  unauthorized: 4,
  /** The API could not be reached, did not answer in time, or failed (5xx). */
  unreachable: 5,
  /** `plan --exit-code`: the deploy would change schedules. */
  planHasChanges: 6,
  /** `run --wait`: the run ended failed (a cancelled run too). */
  runFailed: 7,
  /** `run --wait`: the run had not finished at the deadline. */
  runUnfinished: 8,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof NotFoundError) return ExitCode.notFound;
  if (error instanceof InvalidRequestError || error instanceof ConflictError) return ExitCode.refused;
  if (error instanceof UnauthorizedError) return ExitCode.unauthorized;
  if (error instanceof NetworkError || error instanceof RequestTimeoutError || error instanceof ServerError) return ExitCode.unreachable;
  return ExitCode.usage;
}

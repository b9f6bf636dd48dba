import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConflictError,
  InvalidRequestError,
  NetworkError,
  NotFoundError,
  RequestTimeoutError,
  ServerError,
  UnauthorizedError,
  type ApiError,
  type ApiErrorAnswer,
  type ApiIssue,
} from './errors/index.js';

export interface TransportOptions {
  /** The web's base URL, such as `http://localhost:3000`. */
  url: string | URL;
  /** The web's API_TOKEN. */
  token: string;
  /** Per request, before it counts as failed (default 10 s). */
  timeoutMs?: number;
  /** Retries of an idempotent call after a network error, a timeout, a 5xx or a 429 (default 2). */
  retries?: number;
}

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, already encoded, such as `/api/jobs/ping/runs?state=failed`. */
  path: string;
  body?: unknown;
  /**
   * Whether sending it twice does what sending it once does: only then is it retried. A retried
   * POST that had reached the server would otherwise enqueue, cancel or trigger twice.
   */
  idempotent: boolean;
  /** This call's own timeout, for long polls. */
  timeoutMs?: number;
}

export interface Answer<T> {
  status: number;
  body: T;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 2;
const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;

class RetryableStatus extends Error {
  constructor(
    readonly error: ApiError,
    readonly retryAfterMs: number | undefined,
  ) {
    super(error.message);
  }
}

/** Sends the API's calls: bearer token, JSON, a timeout per request, retries of idempotent calls, typed errors. */
export class HttpTransport {
  private readonly base: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly retries: number;

  constructor(options: TransportOptions) {
    this.base = String(options.url).replace(/\/+$/, '');
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retries = options.retries ?? DEFAULT_RETRIES;
    if (!/^https?:\/\//.test(this.base)) throw new TypeError(`url \`${this.base}\` must start with http:// or https://, for example http://localhost:3000`);
    if (!Number.isInteger(this.retries) || this.retries < 0) throw new TypeError(`retries must be a whole number, 0 or more (got ${this.retries})`);
    if (!(this.timeoutMs > 0)) throw new TypeError(`timeoutMs must be more than 0 (got ${this.timeoutMs})`);
  }

  /** The request timeout calls get unless they set their own. */
  get defaultTimeoutMs(): number {
    return this.timeoutMs;
  }

  /** @throws ApiError's subclasses, RequestTimeoutError, NetworkError */
  async send<T>(call: Call): Promise<Answer<T>> {
    const retries = call.idempotent ? this.retries : 0;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.sendOnce<T>(call);
      } catch (error) {
        const retryable = error instanceof RetryableStatus || error instanceof NetworkError || error instanceof RequestTimeoutError;
        if (!retryable || attempt >= retries) throw error instanceof RetryableStatus ? error.error : error;
        const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
        const retryAfter = error instanceof RetryableStatus ? error.retryAfterMs : undefined;
        // Half to all of the backoff, so clients that failed together do not come back together.
        await sleep(Math.min(MAX_BACKOFF_MS, retryAfter ?? backoff * (0.5 + Math.random() / 2)));
      }
    }
  }

  private async sendOnce<T>(call: Call): Promise<Answer<T>> {
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    const url = `${this.base}${call.path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: 'application/json' };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: call.method,
        headers,
        body: call.body === undefined ? null : JSON.stringify(call.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      if (error instanceof Error && error.name === 'TimeoutError') throw new RequestTimeoutError(call.method, call.path, timeoutMs, { cause: error });
      throw new NetworkError(call.method, url, { cause: error });
    }
    const body = parseJson(text);
    if (response.ok) return { status: response.status, body: body as T };
    const error = apiError({ status: response.status, method: call.method, path: call.path, ...errorFields(body, text, response.statusText) });
    if (response.status >= 500 || response.status === 429) throw new RetryableStatus(error, retryAfterMs(response.headers.get('retry-after')));
    throw error;
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API's `{ error, message, issues? }`; a proxy in between may answer anything else. */
function errorFields(body: unknown, text: string, statusText: string): Pick<ApiErrorAnswer, 'apiCode' | 'message' | 'issues'> {
  if (typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string') {
    const message = 'message' in body && typeof body.message === 'string' ? body.message : body.error;
    const issues = 'issues' in body && Array.isArray(body.issues) ? (body.issues as ApiIssue[]) : undefined;
    return { apiCode: body.error, message, ...(issues ? { issues } : {}) };
  }
  return { apiCode: 'HTTP_ERROR', message: text.slice(0, 200).trim() || statusText || 'no body' };
}

function apiError(answer: ApiErrorAnswer): ApiError {
  switch (answer.status) {
    case 400:
    case 413:
      return new InvalidRequestError(answer);
    case 401:
    case 403:
      return new UnauthorizedError(answer);
    case 404:
      return new NotFoundError(answer);
    case 409:
      return new ConflictError(answer);
    default:
      return new ServerError(answer);
  }
}

/** `Retry-After` in seconds (the HTTP-date form is rare from an API and left to the backoff). */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header) * 1000;
}

import { DrumlineError } from '@drumline/core/runtime';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** The one shape of every error the HTTP API answers; `error` is a stable code, `issues` lists fields at fault. */
export const errorBodySchema = z.object({
  error: z.string().describe('A stable code, such as DRUMLINE_UNKNOWN_JOB'),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;

export const UNAUTHORIZED = 'DRUMLINE_UNAUTHORIZED';

/**
 * HTTP status of each error code thrown on purpose. Core's errors know nothing of HTTP, so the
 * mapping lives here; a route group that adds an error class adds its code.
 */
const statusByCode: Readonly<Record<string, number>> = {
  DRUMLINE_UNKNOWN_JOB: 404,
  DRUMLINE_RUN_NOT_FOUND: 404,
  DRUMLINE_RUN_STATE_CONFLICT: 409,
  DRUMLINE_SCHEDULE_PAUSED: 409,
  DRUMLINE_INVALID_CURSOR: 400,
  DRUMLINE_INVALID_PAYLOAD: 400,
  DRUMLINE_INVALID_FLOW_KEY: 400,
  DRUMLINE_INVALID_ID: 400,
  DRUMLINE_INVALID_SCHEDULE: 400,
  DRUMLINE_UNKNOWN_SCHEDULE: 404,
  DRUMLINE_UNKNOWN_TICK: 404,
  DRUMLINE_CODE_OWNED_SCHEDULE: 409,
};

function hasIssues(error: object): error is { issues: ErrorBody['issues'] } {
  return 'issues' in error && Array.isArray(error.issues);
}

function toReply(error: FastifyError | DrumlineError): { statusCode: number; body: ErrorBody } {
  if (error instanceof DrumlineError) {
    const statusCode = statusByCode[error.code] ?? 500;
    if (statusCode >= 500) return internal();
    const body: ErrorBody = { error: error.code, message: error.message };
    if (hasIssues(error)) body.issues = error.issues;
    return { statusCode, body };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((issue) => ({ path: issue.instancePath.slice(1).replaceAll('/', '.'), message: issue.message ?? 'invalid' }));
    const where = error.validationContext ?? 'request';
    return {
      statusCode: 400,
      body: { error: 'DRUMLINE_INVALID_REQUEST', message: `invalid ${where}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, issues },
    };
  }
  const statusCode = error.statusCode ?? 500;
  if (statusCode === 401) return { statusCode, body: { error: UNAUTHORIZED, message: error.message } };
  // Fastify's own client errors (413 body too large, 415 media type, malformed JSON) keep their FST_ code.
  if (statusCode >= 400 && statusCode < 500) return { statusCode, body: { error: error.code ?? 'DRUMLINE_BAD_REQUEST', message: error.message } };
  return internal();
}

function internal(): { statusCode: number; body: ErrorBody } {
  return { statusCode: 500, body: { error: 'DRUMLINE_INTERNAL', message: 'internal error; the server log has the details' } };
}

/** Every body this app takes is JSON: say so, and what came instead, rather than Fastify's bare "Unsupported Media Type". */
function unsupportedMediaType(request: FastifyRequest): ErrorBody {
  const sent = request.headers['content-type'];
  return {
    error: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
    message: `send the body as JSON with \`content-type: application/json\`; this request's was ${sent ? `\`${sent}\`` : 'not set'}`,
  };
}

function handleError(error: FastifyError | DrumlineError, request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send(unsupportedMediaType(request));
  const { statusCode, body } = toReply(error);
  if (statusCode >= 500) request.log.error({ err: error, method: request.method, url: request.url }, 'request failed');
  return reply.code(statusCode).send(body);
}

export function handleNotFound(request: FastifyRequest, reply: FastifyReply) {
  return reply.code(404).send({ error: 'DRUMLINE_NOT_FOUND', message: `no route ${request.method} ${request.url}` } satisfies ErrorBody);
}

/** Maps every error to `{ error, message, issues? }`, for the whole app (Bull Board keeps its own inside its scope). */
export const errorHandler = fp(
  async (app) => {
    app.setErrorHandler(handleError);
    app.setNotFoundHandler(handleNotFound);
  },
  { name: 'drumline-error-handler', fastify: '5.x' },
);

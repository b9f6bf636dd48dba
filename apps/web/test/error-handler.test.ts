import { DrumlineError } from '@drumline/core/runtime';
import Fastify, { type FastifyError, type InjectOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorHandler } from '../src/plugins/error-handler.js';

// The one error shape of the HTTP API, `{ error, message, issues? }`, for each kind of error a
// route can end with: the plugin on a bare Fastify app, with routes that throw on purpose.
class MappedError extends DrumlineError {
  readonly code = 'DRUMLINE_UNKNOWN_SCHEDULE';
}
class IssuesError extends DrumlineError {
  readonly code = 'DRUMLINE_INVALID_PAYLOAD';
  readonly issues = [{ path: 'data.to', message: 'Invalid email' }];
}
class UnmappedError extends DrumlineError {
  readonly code = 'DRUMLINE_SOMETHING_NEW';
}
const withStatus = (statusCode: number, code?: string): FastifyError => Object.assign(new Error(`status ${statusCode}`), { statusCode, ...(code ? { code } : {}) }) as FastifyError;

/**
 * A bare app with the plugin and routes that throw on purpose; built in each test rather than once
 * for the file, so that Stryker counts the plugin's code as covered by the tests that use it.
 */
async function buildApp() {
  const app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(errorHandler);
  app.get('/mapped', async () => {
    throw new MappedError('no schedule `x`');
  });
  app.get('/issues', async () => {
    throw new IssuesError('invalid payload');
  });
  app.get('/unmapped', async () => {
    throw new UnmappedError('a secret detail');
  });
  app.get('/plain', async () => {
    throw new Error('a secret detail');
  });
  app.get('/status/:status', { schema: { params: z.object({ status: z.coerce.number() }) } }, async (request) => {
    const { status } = request.params;
    throw withStatus(status, status === 418 ? undefined : `FST_TEST_${status}`);
  });
  app.post('/validated', { schema: { body: z.object({ n: z.number(), nested: z.object({ s: z.string() }) }) } }, async () => 'ok');
  await app.ready();
  return app;
}
async function inject(options: InjectOptions) {
  const app = await buildApp();
  try {
    return await app.inject(options);
  } finally {
    await app.close();
  }
}

describe('the error handler', () => {
  it("answers a Drumline error with its code's status, its code and its message", async () => {
    const response = await inject({ method: 'GET', url: '/mapped' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'DRUMLINE_UNKNOWN_SCHEDULE', message: 'no schedule `x`' });
  });

  it("passes a Drumline error's issues on", async () => {
    const response = await inject({ method: 'GET', url: '/issues' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'DRUMLINE_INVALID_PAYLOAD', message: 'invalid payload', issues: [{ path: 'data.to', message: 'Invalid email' }] });
  });

  it('answers a Drumline error whose code has no status, and any other error, with a 500 that tells nothing', async () => {
    for (const url of ['/unmapped', '/plain', '/status/500', '/status/503']) {
      const response = await inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(500);
      expect(response.json(), url).toEqual({ error: 'DRUMLINE_INTERNAL', message: 'internal error; the server log has the details' });
    }
  });

  it('answers a schema violation with 400, naming each field by its dotted path', async () => {
    const response = await inject({ method: 'POST', url: '/validated', payload: { n: 'one', nested: { s: 2 } } });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toBe('DRUMLINE_INVALID_REQUEST');
    expect(body.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['n', 'nested.s']);
    expect(body.message).toMatch(/^invalid body: /);
    expect(body.message).toContain('nested.s: ');
  });

  it('names the root of a body that is not even an object as (root)', async () => {
    const response = await inject({ method: 'POST', url: '/validated', payload: '[1]', headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_INVALID_REQUEST', issues: [{ path: '' }] });
    expect(response.json().message).toMatch(/^invalid body: \(root\): /);
  });

  it("keeps a client error's status and code, calling a 401 unauthorized and a code-less one a bad request", async () => {
    const unauthorized = await inject({ method: 'GET', url: '/status/401' });
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.json()).toEqual({ error: 'DRUMLINE_UNAUTHORIZED', message: 'status 401' });
    const tooLarge = await inject({ method: 'GET', url: '/status/413' });
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toEqual({ error: 'FST_TEST_413', message: 'status 413' });
    const teapot = await inject({ method: 'GET', url: '/status/418' });
    expect(teapot.statusCode).toBe(418);
    expect(teapot.json()).toEqual({ error: 'DRUMLINE_BAD_REQUEST', message: 'status 418' });
    const lowest = await inject({ method: 'GET', url: '/status/400' });
    expect(lowest.statusCode).toBe(400);
    expect(lowest.json().error).toBe('FST_TEST_400');
  });

  it('answers an unknown route with 404 naming the method and path', async () => {
    const response = await inject({ method: 'DELETE', url: '/nowhere?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'DRUMLINE_NOT_FOUND', message: 'no route DELETE /nowhere?x=1' });
  });
});

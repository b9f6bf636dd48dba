import { afterAll, describe, expect, it } from 'vitest';
import { uniquePrefix } from '../../../tests/support/redis.js';
import type { ReadinessCheck } from '../src/app.js';
import { deleteTestKeys, startWeb, type TestWeb } from './web-harness.js';

const prefix = uniquePrefix('web-health');
const started: TestWeb[] = [];
/** Port 1 (tcpmux) is privileged and unused: connecting to it is refused at once. */
const NOTHING_LISTENS = 'redis://127.0.0.1:1';

async function start(options: { redisUrl?: string; readinessChecks?: ReadinessCheck[] } = {}): Promise<TestWeb> {
  const web = await startWeb({ prefix, ...options });
  started.push(web);
  return web;
}

afterAll(async () => {
  await Promise.all(started.map((web) => web.app.close()));
  await deleteTestKeys(prefix);
});

describe('GET /healthz', () => {
  it('answers 200 { status: ok } even when Redis is unreachable', async () => {
    const web = await start({ redisUrl: NOTHING_LISTENS });
    const response = await web.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });
});

describe('GET /readyz', () => {
  it('answers 200 when Redis answers PING and every readiness check passes', async () => {
    const checked: string[] = [];
    const web = await start({ readinessChecks: [async () => void checked.push('init tasks')] });
    const response = await web.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
    expect(checked).toEqual(['init tasks']);
  });

  it('answers 503 naming Redis when nothing listens at REDIS_URL', async () => {
    const web = await start({ redisUrl: NOTHING_LISTENS });
    const response = await web.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unavailable', reason: expect.stringMatching(/^redis is not connected/) });
  });

  it('answers 503 when Redis is connected but does not answer PING in time', async () => {
    const web = await start();
    await web.app.redis.ping();
    // A blocking command holds the connection, so the PING queues behind it for longer than the timeout.
    const blocked = web.app.redis.blpop(`${prefix}:never-pushed`, 2);
    const response = await web.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unavailable', reason: 'redis did not answer PING within 1000 ms' });
    expect(await blocked).toBeNull();
  });

  it('answers 503 with the reason of a readiness check that is not satisfied', async () => {
    const web = await start({ readinessChecks: [async () => undefined, async () => 'init task `migrate` has not finished'] });
    const response = await web.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unavailable', reason: 'init task `migrate` has not finished' });
  });

  it('answers 503 with the message of a readiness check that throws', async () => {
    const web = await start({
      readinessChecks: [
        async () => {
          throw new Error('cannot read the init task state');
        },
      ],
    });
    const response = await web.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unavailable', reason: 'cannot read the init task state' });
  });

  it('turns ready once a failing check passes, without a restart', async () => {
    let pending: string | undefined = 'init tasks are running';
    const web = await start({ readinessChecks: [async () => pending] });
    expect((await web.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    pending = undefined;
    expect((await web.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

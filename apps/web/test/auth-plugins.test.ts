import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { apiTokenAuth } from '../src/plugins/api-token-auth.js';
import { dashboardAuth } from '../src/plugins/dashboard-auth.js';
import { errorHandler } from '../src/plugins/error-handler.js';

// The two auth plugins on a bare app, built in each test: auth.test.ts checks the whole web's
// routes behind them; these pin each plugin's own promises (and let Stryker see them covered).
const TOKEN = 'a-token-of-sixteen-chars';

async function withApiToken(options: { variable?: string } = {}) {
  const app = Fastify({ logger: false });
  await app.register(errorHandler);
  await app.register(apiTokenAuth, { token: TOKEN, ...options });
  app.post('/thing', async () => ({ ok: true }));
  await app.ready();
  return app;
}

async function withDashboardLogin() {
  const app = Fastify({ logger: false });
  await app.register(dashboardAuth, { user: 'operator', password: 'correct-horse-battery' });
  app.register(async (scope) => {
    scope.addHook('onRequest', scope.requireDashboardCredentials);
    scope.get('/page', async () => 'the page');
  });
  await app.ready();
  return app;
}
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('apiTokenAuth', () => {
  it('lets the token through and answers anything else 401, naming the header and API_TOKEN', async () => {
    const app = await withApiToken();
    const ok = await app.inject({ method: 'POST', url: '/thing', headers: { authorization: `Bearer ${TOKEN}` }, payload: {} });
    expect(ok.statusCode).toBe(200);
    const refused = await app.inject({ method: 'POST', url: '/thing', headers: { authorization: 'Bearer nope' }, payload: {} });
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toEqual({ error: 'DRUMLINE_UNAUTHORIZED', message: expect.stringMatching(/.: send Authorization: Bearer <API_TOKEN>$/) });
    await app.close();
  });

  it('names the variable it was given in the 401', async () => {
    const app = await withApiToken({ variable: 'METRICS_TOKEN' });
    const refused = await app.inject({ method: 'POST', url: '/thing', payload: {} });
    expect(refused.json().message).toMatch(/Bearer <METRICS_TOKEN>$/);
    await app.close();
  });

  it('refuses before the body is read: a malformed body without the token is a 401, not a 400', async () => {
    const app = await withApiToken();
    const response = await app.inject({ method: 'POST', url: '/thing', headers: { 'content-type': 'application/json' }, payload: '{not json' });
    expect(response.statusCode).toBe(401);
    await app.close();
  });
});

describe('dashboardAuth', () => {
  it('serves the scope with the login, and asks for basic auth in the Drumline realm without it', async () => {
    const app = await withDashboardLogin();
    expect((await app.inject({ method: 'GET', url: '/page', headers: basic('operator', 'correct-horse-battery') })).body).toBe('the page');
    const anonymous = await app.inject({ method: 'GET', url: '/page' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm="Drumline"(,|$)/);
    await app.close();
  });

  it('refuses a wrong user or password alike, saying so and how to sign in', async () => {
    const app = await withDashboardLogin();
    for (const headers of [basic('operator', 'wrong-password'), basic('intruder', 'correct-horse-battery')]) {
      const response = await app.inject({ method: 'GET', url: '/page', headers });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ error: 'DRUMLINE_UNAUTHORIZED', message: 'wrong dashboard user or password: sign in with DASHBOARD_USER and DASHBOARD_PASSWORD' });
    }
    await app.close();
  });
});

import type { InjectOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { API_TOKEN, DASHBOARD_USER, webForThisFile, withDashboardLogin, withToken } from './web-harness.js';

const web = webForThisFile('web-auth');

type ApiRequest = Pick<InjectOptions, 'method' | 'url' | 'payload'>;

/**
 * Every /api operation of the OpenAPI document (path parameters filled in, a body that would be
 * accepted where one fits), plus the paths it leaves out: an undefined job and an unknown route.
 */
async function apiRequests(): Promise<ApiRequest[]> {
  const document = await web().app.inject({ method: 'GET', url: '/docs/json', headers: withDashboardLogin });
  const paths: Record<string, Record<string, unknown>> = document.json().paths;
  const requests: ApiRequest[] = [
    { method: 'POST', url: '/api/jobs/no-such-job', payload: { data: {} } },
    { method: 'GET', url: '/api/no-such-route' },
  ];
  for (const [path, operations] of Object.entries(paths)) {
    if (!path.startsWith('/api/')) continue;
    const url = path.replaceAll(/\{[^}]+\}/g, 'x');
    for (const method of Object.keys(operations)) {
      const payload = url.endsWith('/bulk') ? { items: [{ data: {} }] } : { data: {} };
      requests.push({ method: method.toUpperCase() as InjectOptions['method'], url, ...(method === 'get' || method === 'delete' ? {} : { payload }) });
    }
  }
  // Three per job at least: enqueue, bulk enqueue, and (once, parametrized) runs.
  expect(requests.length).toBeGreaterThan(2 * web().queues.registry.jobs.length);
  return requests;
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('API token', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: `Bearer ${API_TOKEN}x` }],
    ['the token under another scheme', { authorization: `Token ${API_TOKEN}` }],
    ['the dashboard login', withDashboardLogin],
    ['the token in another case', { authorization: `Bearer ${API_TOKEN.toUpperCase()}` }],
    ['the token glued to the scheme', { authorization: `Bearer${API_TOKEN}` }],
    ['the scheme misspelt', { authorization: `Bearr ${API_TOKEN}` }],
  ])('answers 401 { error, message } on every /api route with %s, and enqueues nothing', async (_what, headers) => {
    for (const request of await apiRequests()) {
      const response = await web().app.inject({ ...request, headers });
      expect(response.statusCode, `${request.method} ${request.url}`).toBe(401);
      // The message names the fix: which header, and the variable the token comes from.
      expect(response.json()).toEqual({ error: 'DRUMLINE_UNAUTHORIZED', message: expect.stringMatching(/.: send Authorization: Bearer <API_TOKEN>$/) });
    }
    expect(await web().totalRuns()).toBe(0);
  });

  it.each(['bearer', 'BEARER', 'bEaReR'])('takes the token under the scheme spelt %s: schemes are case-insensitive (RFC 7235)', async (scheme) => {
    const response = await web().app.inject({ method: 'POST', url: '/api/jobs/ping', headers: { authorization: `${scheme} ${API_TOKEN}` }, payload: { data: {} } });
    expect(response.statusCode).toBe(202);
  });

  it('lets a request with the token through', async () => {
    const response = await web().app.inject({ method: 'POST', url: '/api/jobs/ping', headers: withToken, payload: { data: {} } });
    expect(response.statusCode).toBe(202);
    expect(await web().queueOf('ping').getJob(response.json().id)).toBeDefined();
  });
});

describe('dashboard and docs login', () => {
  /** A static asset the page links to, such as Bull Board's JS bundle or Swagger UI's CSS. */
  async function assetLinkedFrom(page: string): Promise<string> {
    const html = (await web().app.inject({ method: 'GET', url: page, headers: withDashboardLogin })).body;
    const link = /(?:src|href)="([^"]*static[^"]+)"/.exec(html)?.[1];
    if (!link) throw new Error(`${page} links no static asset:\n${html}`);
    const base = /<base href="([^"]+)"/.exec(html)?.[1] ?? page;
    return new URL(link, new URL(base, 'http://localhost')).pathname;
  }

  it('answers 401 on the dashboard, its API and its assets without credentials, asking for basic auth', async () => {
    const asset = await assetLinkedFrom('/admin/queues');
    for (const url of ['/admin/queues', '/admin/queues/', '/admin/queues/api/queues', asset]) {
      const response = await web().app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(401);
      expect(response.headers['www-authenticate'], url).toMatch(/^Basic realm="Drumline"/);
      expect(response.json(), url).toEqual({ error: 'DRUMLINE_UNAUTHORIZED', message: expect.stringMatching(/.: sign in with DASHBOARD_USER and DASHBOARD_PASSWORD$/) });
    }
  });

  it('answers 401 on the docs, the OpenAPI document and their assets without credentials', async () => {
    const asset = await assetLinkedFrom('/docs/');
    for (const url of ['/docs', '/docs/', '/docs/json', asset]) {
      const response = await web().app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(401);
      expect(response.json(), url).toMatchObject({ error: 'DRUMLINE_UNAUTHORIZED' });
    }
  });

  it('refuses a wrong password, a wrong user, and the API token', async () => {
    for (const headers of [basic(DASHBOARD_USER, 'wrong-password!'), basic('someone', 'correct-horse-battery'), withToken]) {
      expect((await web().app.inject({ method: 'GET', url: '/admin/queues', headers })).statusCode).toBe(401);
      expect((await web().app.inject({ method: 'GET', url: '/docs/json', headers })).statusCode).toBe(401);
    }
  });

  it('serves the dashboard, its assets and the docs with the dashboard login', async () => {
    for (const url of ['/admin/queues', await assetLinkedFrom('/admin/queues'), '/docs/', await assetLinkedFrom('/docs/'), '/docs/json']) {
      expect((await web().app.inject({ method: 'GET', url, headers: withDashboardLogin })).statusCode, url).toBe(200);
    }
  });

  it('leaves /healthz and /readyz open: orchestrator probes carry no credentials', async () => {
    expect((await web().app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await web().app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

import { describe, expect, it } from 'vitest';
import { API_TOKEN, webForThisFile, withToken } from './web-harness.js';

const web = webForThisFile('web-auth');

/** Every /api route with a body that would succeed given the token. */
function apiRequests() {
  const requests: Array<{ method: 'GET' | 'POST'; url: string; payload?: object }> = [
    { method: 'GET', url: '/api/jobs' },
    { method: 'POST', url: '/api/jobs/no-such-job', payload: { data: {} } },
    { method: 'GET', url: '/api/no-such-route' },
  ];
  for (const job of web().queues.registry.jobs) {
    requests.push(
      { method: 'POST', url: `/api/jobs/${job.name}`, payload: { data: {} } },
      { method: 'POST', url: `/api/jobs/${job.name}/bulk`, payload: { items: [{ data: {} }] } },
      { method: 'GET', url: `/api/jobs/${job.name}/runs/some-run` },
    );
  }
  return requests;
}

describe('API token', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: `Bearer ${API_TOKEN}x` }],
    ['the token under another scheme', { authorization: `Token ${API_TOKEN}` }],
  ])('answers 401 { error, message } on every /api route with %s, and enqueues nothing', async (_what, headers) => {
    for (const request of apiRequests()) {
      const response = await web().app.inject({ ...request, headers });
      expect(response.statusCode, `${request.method} ${request.url}`).toBe(401);
      expect(response.json()).toEqual({ error: 'DRUMLINE_UNAUTHORIZED', message: expect.stringMatching(/Bearer/) });
    }
    expect(await web().totalRuns()).toBe(0);
  });

  it('lets a request with the token through', async () => {
    const response = await web().app.inject({ method: 'POST', url: '/api/jobs/ping', headers: withToken, payload: { data: {} } });
    expect(response.statusCode).toBe(202);
    expect(await web().queueOf('ping').getJob(response.json().id)).toBeDefined();
  });
});

it('leaves /healthz and /readyz open: orchestrator probes carry no credentials', async () => {
  expect((await web().app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  expect((await web().app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
});

import { initRunId, INIT_QUEUE, JOB_ID_RULE } from '@drumline/core/runtime';
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { keyspaceChanges, snapshotKeyspace } from '../../../tests/support/keyspace.js';
import { MAX_BODY_DEPTH } from '../src/app.js';
import { runUntilFinished, webForThisFile, withDashboardLogin, withToken } from './web-harness.js';

const web = webForThisFile('web-dashboard');

describe('Bull Board at /admin/queues', () => {
  it('shows every queue of the registry, with the runs enqueued through the API', async () => {
    await web().app.inject({ method: 'POST', url: '/api/jobs/send-email', headers: withToken, payload: { data: { to: 'a@example.com', subject: 's', body: 'b' } } });
    const response = await web().app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: withDashboardLogin });
    expect(response.statusCode).toBe(200);
    const queues: Array<{ name: string; counts: Record<string, number> }> = response.json().queues;
    expect(queues.map((queue) => queue.name).sort()).toEqual([...web().queues.registry.queueNames, INIT_QUEUE].sort());
    expect(queues.find((queue) => queue.name === 'email')?.counts.waiting).toBe(1);
    expect(await web().queueOf('send-email').getWaitingCount()).toBe(1);
  });

  it('shows a failed init task in the init queue, with its reason', async () => {
    const [task] = web().initQueues.registry.jobs;
    if (!task) throw new Error('the test jobs define no init task');
    const id = initRunId(task.name, 'r1');
    await web().initQueues.enqueue(task.name, { release: 'r1' }, { jobId: id });
    await runUntilFinished(web(), INIT_QUEUE, id, async () => {
      throw new UnrecoverableError('migration 42 failed: relation "users" already exists');
    });
    const response = await web().app.inject({ method: 'GET', url: `/admin/queues/api/queues?activeQueue=${INIT_QUEUE}&status=failed`, headers: withDashboardLogin });
    expect(response.statusCode).toBe(200);
    const init = response.json().queues.find((queue: { name: string }) => queue.name === INIT_QUEUE);
    expect(init.counts.failed).toBe(1);
    expect(init.jobs).toEqual([expect.objectContaining({ id, name: task.name, failedReason: 'migration 42 failed: relation "users" already exists' })]);
  });

  it('serves its page with the base path it is mounted under', async () => {
    const response = await web().app.inject({ method: 'GET', url: '/admin/queues', headers: withDashboardLogin });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('<base href="/admin/queues/"');
  });

  it('names nothing outside the server on its page, and serves the web fonts it names itself, behind the login', async () => {
    const page = await web().app.inject({ method: 'GET', url: '/admin/queues', headers: withDashboardLogin });
    const addresses = [...page.body.matchAll(/(?:href|src)="([^"]*)"/g)].map((match) => match[1] ?? '');
    expect(addresses.filter((address) => /^(?:[a-z]+:)?\/\//i.test(address))).toEqual([]);

    const stylesheets = addresses.filter((address) => address.startsWith('fonts/'));
    expect(stylesheets).toEqual(expect.arrayContaining(['fonts/ibm-plex-sans/400.css', 'fonts/ibm-plex-mono/400.css']));
    for (const stylesheet of stylesheets) {
      const css = await web().app.inject({ method: 'GET', url: `/admin/queues/${stylesheet}`, headers: withDashboardLogin });
      expect(css.statusCode, stylesheet).toBe(200);
      expect(css.headers['content-type'], stylesheet).toMatch(/^text\/css/);
      const latin = /url\(\.\/(files\/[^)]*-latin-\d+-normal\.woff2)\)/.exec(css.body)?.[1];
      expect(latin, stylesheet).toBeDefined();
      const font = await web().app.inject({ method: 'GET', url: `/admin/queues/${stylesheet.replace(/[^/]*$/, '')}${latin}`, headers: withDashboardLogin });
      expect(font.statusCode, latin).toBe(200);
      expect(font.headers['content-type'], latin).toBe('font/woff2');
    }
    const anonymous = await web().app.inject({ method: 'GET', url: '/admin/queues/fonts/ibm-plex-sans/400.css' });
    expect(anonymous.statusCode).toBe(401);
  });
});

describe("Bull Board's add-job route", () => {
  const addJob = (queue: string, payload: unknown) =>
    web().app.inject({
      method: 'POST',
      url: `/admin/queues/api/queues/${queue}/add`,
      headers: { ...withDashboardLogin, 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  it('adds a run the way the dashboard sends it, with the options a duplicate carries', async () => {
    const options = { jobId: 'from-the-board', attempts: 3, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: { age: 10, count: 5 }, removeOnFail: { age: 5 }, delay: 100, priority: 3 };
    const response = await addJob('default', { name: 'ping', data: { note: 'hi' }, options });
    expect(response.statusCode).toBe(200);
    expect((await web().queueOf('ping').getJob('from-the-board'))?.data).toEqual({ note: 'hi' });
  });

  it.each([
    ["a jobId with ':', which BullMQ throws on", { name: 'ping', data: {}, options: { jobId: 'a:b' } }, 'options.jobId', JOB_ID_RULE],
    ['a jobId holding a lone surrogate', { name: 'ping', data: {}, options: { jobId: 'a\ud800' } }, 'options.jobId', 'surrogate'],
    ["a schedule's run id, which would stand in for a tick", { name: 'ping', data: {}, options: { jobId: 'cleanup-sessions@1700000000000' } }, 'options.jobId', JOB_ID_RULE],
    ['a priority above 2097151, which BullMQ throws on', { name: 'ping', data: {}, options: { priority: 2_097_152 } }, 'options.priority', '2097151'],
    ['a fractional priority', { name: 'ping', data: {}, options: { priority: 1.5 } }, 'options.priority', 'int'],
    ['a BullMQ option Drumline does not take', { name: 'ping', data: {}, options: { repeat: { pattern: 'garbage' } } }, 'options', 'repeat'],
    ['a job name the queue does not run', { name: '__default__', data: {} }, 'name', '`ping`'],
    ["data that fails the job's schema", { name: 'ping', data: { sleepMs: -1 } }, 'data.sleepMs', '0'],
  ])('refuses %s with 400 and the reason, and writes nothing', async (_what, body, path, reason) => {
    const before = await snapshotKeyspace(web().app.redis, web().queues.prefix);
    const response = await addJob('default', body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringMatching(/^DRUMLINE_/), message: expect.stringContaining(reason), issues: [expect.objectContaining({ path })] });
    expect(keyspaceChanges(before, await snapshotKeyspace(web().app.redis, web().queues.prefix))).toEqual([]);
  });

  it(`refuses a body nesting deeper than ${MAX_BODY_DEPTH} levels with 400, and writes nothing`, async () => {
    const before = await snapshotKeyspace(web().app.redis, web().queues.prefix);
    const response = await addJob('default', `{"name":"ping","data":{"x":${'['.repeat(5000)}${']'.repeat(5000)}}}`);
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain(`${MAX_BODY_DEPTH} levels`);
    expect(keyspaceChanges(before, await snapshotKeyspace(web().app.redis, web().queues.prefix))).toEqual([]);
  });

  it('leaves an unknown queue to Bull Board, which answers 404', async () => {
    expect((await addJob('no-such-queue', { name: 'ping', data: {} })).statusCode).toBe(404);
  });
});

describe("Bull Board's promote", () => {
  const promote = (id: string) => web().app.inject({ method: 'PUT', url: `/admin/queues/api/queues/default/${id}/promote`, headers: withDashboardLogin });

  it('promotes a delayed run, and answers 409 instead of 500 for one that is not delayed, leaving it as it was', async () => {
    await web().queues.enqueue('ping', {}, { jobId: 'later', delay: 60_000 });
    await web().queues.enqueue('ping', {}, { jobId: 'now' });
    expect((await promote('later')).statusCode).toBe(204);
    expect(await web().queueOf('ping').getJobState('later')).toBe('waiting');
    const refused = await promote('now');
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ error: 'DRUMLINE_NOT_DELAYED', message: 'run `now` is waiting: only a delayed run can be promoted' });
    expect(await web().queueOf('ping').getJobState('now')).toBe('waiting');
  });

  it('leaves an unknown run to Bull Board, which answers 404', async () => {
    expect((await promote('no-such-run')).statusCode).toBe(404);
  });
});

describe('OpenAPI document at /docs/json', () => {
  async function document() {
    const response = await web().app.inject({ method: 'GET', url: '/docs/json', headers: withDashboardLogin });
    expect(response.statusCode).toBe(200);
    return response.json();
  }

  it("documents one enqueue route per job with that job's payload schema", async () => {
    const { paths } = await document();
    for (const job of web().queues.registry.jobs) {
      expect(paths[`/api/jobs/${job.name}`]?.post, job.name).toBeDefined();
      expect(paths[`/api/jobs/${job.name}/bulk`]?.post, job.name).toBeDefined();
    }
    const sendEmail = paths['/api/jobs/send-email'].post;
    const body = sendEmail.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['data']);
    expect(body.properties.data.required).toEqual(expect.arrayContaining(['to', 'subject', 'body']));
    expect(body.properties.opts.properties.jobId).toBeDefined();
    expect(sendEmail.responses['202']).toBeDefined();
    expect(sendEmail.security).toEqual([{ apiToken: [] }]);
  });

  it('documents the catalog, runs and health routes, and leaves out the dashboard and the docs themselves', async () => {
    const { paths, components } = await document();
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/api/jobs', '/api/jobs/{name}/runs/{id}', '/healthz', '/readyz']));
    expect(Object.keys(paths).filter((path) => path.startsWith('/admin') || path.startsWith('/docs'))).toEqual([]);
    expect(paths['/api/jobs/{name}']).toBeUndefined();
    expect(components.securitySchemes.apiToken).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
  });

  it('names every path without a trailing slash, the schedules listing as /api/schedules', async () => {
    const { paths } = await document();
    expect(Object.keys(paths).filter((path) => path.length > 1 && path.endsWith('/'))).toEqual([]);
    expect(paths['/api/schedules']?.get).toBeDefined();
    const listing = await web().app.inject({ method: 'GET', url: '/api/schedules', headers: withToken });
    expect(listing.statusCode).toBe(200);
  });
});

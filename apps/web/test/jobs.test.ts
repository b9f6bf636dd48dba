import { drumlineKeys, JOB_ID_RULE, MAX_JOB_ID_LENGTH } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { MAX_BODY_DEPTH } from '../src/app.js';
import { runUntilFinished, webForThisFile, withToken } from './web-harness.js';

const email = { to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada' };
const web = webForThisFile('web-jobs');

function enqueue(name: string, body: unknown) {
  return web().app.inject({ method: 'POST', url: `/api/jobs/${name}`, headers: withToken, payload: body as object });
}

/** Sends `text` as the JSON body as it is, for bodies JSON.stringify would not write. */
function enqueueText(name: string, text: string) {
  return web().app.inject({ method: 'POST', url: `/api/jobs/${name}`, headers: { ...withToken, 'content-type': 'application/json' }, payload: text });
}

function enqueueBulk(name: string, items: unknown[]) {
  return web().app.inject({ method: 'POST', url: `/api/jobs/${name}/bulk`, headers: withToken, payload: { items } });
}

describe('POST /api/jobs/:name', () => {
  it('enqueues a valid payload with 202, the run id and duplicate false, on the job queue', async () => {
    const response = await enqueue('send-email', { data: email });
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({ id: expect.any(String), name: 'send-email', queue: 'email', duplicate: false });
    const run = await web().queueOf('send-email').getJob(body.id);
    expect(run?.name).toBe('send-email');
    expect(run?.data).toEqual(email);
    expect(run?.opts.attempts).toBe(5);
  });

  it('stores the payload as sent, leaving defaults to the worker', async () => {
    const data = { table: 'sessions', olderThanDays: 30 };
    const response = await enqueue('cleanup-old-records', { data });
    expect(response.statusCode).toBe(202);
    expect((await web().queueOf('cleanup-old-records').getJob(response.json().id))?.data).toEqual(data);
  });

  it('refuses a payload without `to` with 400 listing each issue, and enqueues nothing', async () => {
    const before = await web().totalRuns();
    const response = await enqueue('send-email', { data: { subject: '', body: 'x' } });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toBe('DRUMLINE_INVALID_PAYLOAD');
    expect(body.message).toMatch(/send-email/);
    expect(body.issues.map((issue: { path: string }) => issue.path).sort()).toEqual(['data.subject', 'data.to']);
    expect(await web().totalRuns()).toBe(before);
  });

  it('refuses a body without `data` and one with unknown keys, naming the field', async () => {
    const before = await web().totalRuns();
    const missing = await enqueue('send-email', { opts: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().issues[0].path).toBe('data');
    const unknown = await enqueue('send-email', { data: email, payload: email });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().issues[0].message).toMatch(/payload/);
    expect(await web().totalRuns()).toBe(before);
  });

  it('answers 404 for a job name that is not defined, and enqueues nothing', async () => {
    const before = await web().totalRuns();
    const response = await enqueue('no-such-job', { data: {} });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_UNKNOWN_JOB', message: expect.stringMatching(/no-such-job/) });
    expect(await web().totalRuns()).toBe(before);
  });

  it('refuses a body over 1 MiB with 413 in the JSON error shape, and enqueues nothing', async () => {
    const before = await web().totalRuns();
    const response = await enqueue('send-email', { data: { ...email, body: 'x'.repeat(1024 * 1024) } });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({ error: 'FST_ERR_CTP_BODY_TOO_LARGE', message: expect.any(String) });
    expect(await web().totalRuns()).toBe(before);
  });

  it('refuses a body that is not JSON with 4xx in the JSON error shape', async () => {
    const response = await enqueueText('send-email', '{"data": ');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringMatching(/^FST_/), message: expect.any(String) });
  });

  /** `{"data":{"note":"x","deep":[[...]]}}`: the nesting sits in a field ping's schema strips. */
  const nestedBody = (depth: number) => `{"data":{"note":"x","deep":${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`;

  it(`refuses a body nesting deeper than ${MAX_BODY_DEPTH} levels with 400, even in a field the schema strips, and enqueues nothing`, async () => {
    const before = await web().totalRuns();
    for (const depth of [MAX_BODY_DEPTH + 1, 10_000, 200_000]) {
      const response = await enqueueText('ping', nestedBody(depth));
      expect(response.statusCode, `depth ${depth}`).toBe(400);
      expect(response.json()).toEqual({ error: 'DRUMLINE_BODY_TOO_DEEP', message: expect.stringContaining(`${MAX_BODY_DEPTH} levels`) });
    }
    expect(await web().totalRuns()).toBe(before);
  });

  it(`takes a body nesting exactly ${MAX_BODY_DEPTH} levels, and counts brackets inside strings as text`, async () => {
    const atLimit = await enqueueText('ping', nestedBody(MAX_BODY_DEPTH));
    expect(atLimit.statusCode).toBe(202);
    const brackets = await enqueue('ping', { data: { note: `\\"${'['.repeat(150)}` } });
    expect(brackets.statusCode).toBe(202);
  });

  it.each([
    ['a string', { data: { note: 'half \ud83d' } }, 'data.note'],
    ['a key', { data: { 'x\udc00': 1 } }, 'data.x\udc00'],
    ['a jobId', { data: {}, opts: { jobId: 'a\ud800' } }, 'opts.jobId'],
  ])('refuses a lone UTF-16 surrogate in %s with 400 naming where, and enqueues nothing', async (_what, body, path) => {
    const before = await web().totalRuns();
    const response = await enqueue('ping', body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_UNPAIRED_SURROGATE', issues: [{ path, message: expect.stringContaining('surrogate') }] });
    expect(await web().totalRuns()).toBe(before);
  });

  it('takes surrogate pairs, escaped or not, and a backslash that only looks like an escape', async () => {
    const response = await enqueueText('ping', '{"data":{"note":"\\\\ud800 \\ud83d\\ude00 \u{1F600}"}}');
    expect(response.statusCode).toBe(202);
    expect((await web().queueOf('ping').getJob(response.json().id))?.data).toEqual({ note: '\\ud800 \u{1F600} \u{1F600}' });
  });

  it('refuses a body with a __proto__ key with 400, as Fastify does', async () => {
    const response = await enqueueText('ping', '{"data":{"__proto__":{"sleepMs":1}}}');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: expect.stringMatching(/^FST_/), message: expect.any(String) });
  });

  it.each([
    ['no content-type', {}, 'not set'],
    ['text/plain', { 'content-type': 'text/plain' }, '`text/plain`'],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }, '`application/x-www-form-urlencoded`'],
  ])('refuses a JSON body sent with %s with 415 naming application/json and the type it got, and enqueues nothing', async (_what, headers, got) => {
    const before = await web().totalRuns();
    for (const url of ['/api/jobs/ping', '/api/jobs/ping/bulk', '/api/schedules/by-text']) {
      const body = url.endsWith('/bulk') ? { items: [{ data: {} }] } : url.includes('schedules') ? { job: 'ping', every: '1h' } : { data: {} };
      const response = await web().app.inject({ method: url.includes('schedules') ? 'PUT' : 'POST', url, headers: { ...withToken, ...headers }, payload: JSON.stringify(body) });
      expect(response.statusCode, url).toBe(415);
      expect(response.json(), url).toEqual({ error: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', message: expect.stringContaining('`content-type: application/json`') });
      expect(response.json().message, url).toContain(`was ${got}`);
    }
    expect(await web().totalRuns()).toBe(before);
    expect(await web().app.redis.hexists(drumlineKeys(web().queues.prefix).schedules, 'by-text')).toBe(0);
  });

  it('takes application/json with a charset', async () => {
    const response = await web().app.inject({ method: 'POST', url: '/api/jobs/ping', headers: { ...withToken, 'content-type': 'application/json; charset=utf-8' }, payload: '{"data":{}}' });
    expect(response.statusCode).toBe(202);
  });

  it('passes delay and priority to BullMQ', async () => {
    const delayed = await enqueue('ping', { data: {}, opts: { delay: 60_000 } });
    expect(delayed.statusCode).toBe(202);
    expect(await web().queueOf('ping').getJobState(delayed.json().id)).toBe('delayed');
    const prioritized = await enqueue('ping', { data: {}, opts: { priority: 7 } });
    expect(prioritized.statusCode).toBe(202);
    const run = await web().queueOf('ping').getJob(prioritized.json().id);
    expect(run?.opts.priority).toBe(7);
    expect(await run?.getState()).toBe('prioritized');
  });

  it.each([
    ['a jobId with a colon', { jobId: 'order:42' }, 'opts.jobId'],
    ['a jobId that is a whole number', { jobId: '42' }, 'opts.jobId'],
    ['a negative whole-number jobId', { jobId: '-42' }, 'opts.jobId'],
    ["a jobId shaped like a scheduled run's", { jobId: 'nightly@1700000000000' }, 'opts.jobId'],
    ['an empty jobId', { jobId: '' }, 'opts.jobId'],
    ['a jobId holding a lone UTF-16 surrogate, which Redis would store as U+FFFD', { jobId: 'order-\ud800' }, 'opts.jobId'],
    ['a jobId with a space', { jobId: 'order 42' }, 'opts.jobId'],
    [`a jobId one character past ${MAX_JOB_ID_LENGTH}`, { jobId: 'x'.repeat(MAX_JOB_ID_LENGTH + 1) }, 'opts.jobId'],
    ['a negative delay', { delay: -1 }, 'opts.delay'],
    ['a fractional delay', { delay: 1.5 }, 'opts.delay'],
    ['a priority above 2097151, which BullMQ refuses', { priority: 2_097_152 }, 'opts.priority'],
    ['a negative priority', { priority: -1 }, 'opts.priority'],
    ['an unknown option', { dealy: 1000 }, 'opts'],
  ])('refuses %s with 400 naming the field, and enqueues nothing', async (_what, opts, path) => {
    const before = await web().totalRuns();
    const response = await enqueue('ping', { data: {}, opts });
    expect(response.statusCode).toBe(400);
    expect(response.json().issues).toEqual([{ path, message: expect.any(String) }]);
    expect(await web().totalRuns()).toBe(before);
  });

  it('names the id rule when it refuses a jobId', async () => {
    const response = await enqueue('ping', { data: {}, opts: { jobId: 'order/42' } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain(JOB_ID_RULE);
  });

  it(`accepts a jobId of exactly ${MAX_JOB_ID_LENGTH} characters, and the run reads back under it`, async () => {
    const jobId = `a${'x'.repeat(MAX_JOB_ID_LENGTH - 1)}`;
    const response = await enqueue('ping', { data: {}, opts: { jobId } });
    expect(response.statusCode).toBe(202);
    expect(response.json().id).toBe(jobId);
    const run = await web().app.inject({ method: 'GET', url: `/api/jobs/ping/runs/${jobId}`, headers: withToken });
    expect(run.statusCode).toBe(200);
    expect(run.json().id).toBe(jobId);
  });

  it('accepts the highest BullMQ priority, 2097151', async () => {
    expect((await enqueue('ping', { data: {}, opts: { priority: 2_097_151 } })).statusCode).toBe(202);
  });

  it('treats the same jobId as one run, and says so: 202 and duplicate false for the new run, 200 and duplicate true after, run once', async () => {
    const opts = { jobId: 'welcome-ada' };
    const first = await enqueue('send-email', { data: email, opts });
    const second = await enqueue('send-email', { data: { ...email, subject: 'Welcome again' }, opts });
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({ id: 'welcome-ada', name: 'send-email', queue: 'email', duplicate: false });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ id: 'welcome-ada', name: 'send-email', queue: 'email', duplicate: true });
    const queue = web().queueOf('send-email');
    expect((await queue.getJob('welcome-ada'))?.data).toEqual(email);
    const runs = await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed']);
    expect(runs.filter((run) => run.id === 'welcome-ada')).toHaveLength(1);

    const handled: string[] = [];
    await runUntilFinished(web(), 'email', 'welcome-ada', async (job) => {
      handled.push(job.id as string);
    });
    const third = await enqueue('send-email', { data: email, opts });
    expect(third.statusCode).toBe(200);
    expect(third.json()).toMatchObject({ id: 'welcome-ada', duplicate: true });
    expect(await queue.getJobState('welcome-ada')).toBe('completed');
    expect(handled.filter((id) => id === 'welcome-ada')).toHaveLength(1);
  });
});

describe('POST /api/jobs/:name/bulk', () => {
  it('enqueues every item with 202 and their ids in order', async () => {
    const items = [0, 1, 2].map((n) => ({ data: { ...email, subject: `Mail ${n}` } }));
    items.push({ data: email, opts: { jobId: 'bulk-keyed', priority: 3 } } as (typeof items)[number]);
    const response = await enqueueBulk('send-email', items);
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toMatchObject({ name: 'send-email', queue: 'email' });
    expect(body.ids).toHaveLength(4);
    expect(body.ids[3]).toBe('bulk-keyed');
    const queue = web().queueOf('send-email');
    const runs = await Promise.all(body.ids.map((id: string) => queue.getJob(id)));
    expect(runs.map((run) => run?.data.subject)).toEqual(['Mail 0', 'Mail 1', 'Mail 2', 'Welcome']);
    expect(runs[3]?.opts.priority).toBe(3);
  });

  it('lists the items whose jobId already existed in duplicates, answering 202 while one item is new and 200 when none is', async () => {
    const keyed = (jobId: string) => ({ data: email, opts: { jobId } });
    const first = await enqueueBulk('send-email', [keyed('bulk-dup-a'), { data: email }]);
    expect(first.statusCode).toBe(202);
    expect(first.json().duplicates).toEqual([]);

    const second = await enqueueBulk('send-email', [keyed('bulk-dup-a'), keyed('bulk-dup-b'), { data: email }]);
    expect(second.statusCode).toBe(202);
    expect(second.json()).toMatchObject({ ids: ['bulk-dup-a', 'bulk-dup-b', expect.any(String)], duplicates: ['bulk-dup-a'] });

    const again = await enqueueBulk('send-email', [keyed('bulk-dup-b'), keyed('bulk-dup-a')]);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ ids: ['bulk-dup-b', 'bulk-dup-a'], duplicates: ['bulk-dup-b', 'bulk-dup-a'] });
  });

  it('refuses the whole bulk with 400 when item 3 is invalid, naming items.3.data.to, and enqueues none', async () => {
    const before = await web().totalRuns();
    const items = [0, 1, 2, 3, 4].map(() => ({ data: email }));
    items[3] = { data: { ...email, to: 'not-an-address' } };
    const response = await enqueueBulk('send-email', items);
    expect(response.statusCode).toBe(400);
    expect(response.json().issues).toEqual([{ path: 'items.3.data.to', message: expect.any(String) }]);
    expect(await web().totalRuns()).toBe(before);
  });

  it('refuses an invalid option of one item, naming items.1.opts.jobId', async () => {
    const before = await web().totalRuns();
    const response = await enqueueBulk('ping', [{ data: {} }, { data: {}, opts: { jobId: '7' } }]);
    expect(response.statusCode).toBe(400);
    expect(response.json().issues).toEqual([{ path: 'items.1.opts.jobId', message: expect.any(String) }]);
    expect(await web().totalRuns()).toBe(before);
  });

  it('refuses an empty bulk and one of more than 1000 items with 400', async () => {
    const before = await web().totalRuns();
    const empty = await enqueueBulk('ping', []);
    expect(empty.statusCode).toBe(400);
    expect(empty.json().issues[0].path).toBe('items');
    const tooMany = await enqueueBulk('ping', Array.from({ length: 1001 }, () => ({ data: {} })));
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().issues[0].path).toBe('items');
    expect(await web().totalRuns()).toBe(before);
  });

  it('accepts exactly 1000 items', async () => {
    const before = await web().queueOf('ping').count();
    const response = await enqueueBulk('ping', Array.from({ length: 1000 }, (_, n) => ({ data: { note: `n${n}` } })));
    expect(response.statusCode).toBe(202);
    expect(new Set(response.json().ids).size).toBe(1000);
    expect((await web().queueOf('ping').count()) - before).toBe(1000);
  });

  it('answers 404 for an undefined job name', async () => {
    const response = await enqueueBulk('no-such-job', [{ data: {} }]);
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toBe('DRUMLINE_UNKNOWN_JOB');
  });
});

describe('GET /api/jobs', () => {
  it("shows every schedule's five policies in effect, declared or defaulted, never leaving one out", async () => {
    const catalog: Array<{ schedules: Array<{ id: string; policies: Record<string, unknown> }> }> = (
      await web().app.inject({ method: 'GET', url: '/api/jobs', headers: withToken })
    ).json();
    const shown = catalog.flatMap((job) => job.schedules);
    expect(shown.length).toBeGreaterThan(0);
    for (const { id, policies } of shown) {
      expect(policies, id).toEqual({
        misfire: expect.stringMatching(/^(skip|once|all)$/),
        misfireCap: expect.any(Number),
        misfireGraceMs: policies.misfireGraceMs === null ? null : expect.any(Number),
        overlap: expect.stringMatching(/^(allow|skip|queue)$/),
        jitterMs: expect.any(Number),
      });
    }
  });

  it('lists every defined job with its queue, policy, payload JSON Schema and schedules', async () => {
    const response = await web().app.inject({ method: 'GET', url: '/api/jobs', headers: withToken });
    expect(response.statusCode).toBe(200);
    const catalog: Array<Record<string, unknown> & { name: string }> = response.json();
    expect(catalog.map((job) => job.name)).toEqual(web().queues.registry.jobs.map((job) => job.name));

    const sendEmail = catalog.find((job) => job.name === 'send-email');
    expect(sendEmail).toMatchObject({ queue: 'email', attempts: 5, timeoutMs: 30_000, schedules: [] });
    expect(sendEmail?.payloadSchema).toMatchObject({ type: 'object', required: expect.arrayContaining(['to', 'subject', 'body']) });

    const report = catalog.find((job) => job.name === 'daily-report');
    expect(report?.schedules).toEqual([
      {
        id: 'daily-report-team',
        cron: '30 9 * * 1-5',
        tz: 'Europe/Berlin',
        data: { recipients: ['team@example.com'] },
        policies: { misfire: 'once', misfireCap: 100, misfireGraceMs: null, overlap: 'allow', jitterMs: 0 },
      },
    ]);
    const cleanup = catalog.find((job) => job.name === 'cleanup-old-records');
    expect(cleanup?.schedules).toEqual([
      expect.objectContaining({ id: 'cleanup-sessions', every: 30 * 60_000, policies: { misfire: 'once', misfireCap: 100, misfireGraceMs: null, overlap: 'skip', jitterMs: 0 } }),
    ]);
    // The input side: a field with a default is optional to the caller.
    expect(cleanup?.payloadSchema).toMatchObject({ required: ['table', 'olderThanDays'] });
  });
});

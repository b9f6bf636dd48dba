import { fc, test } from '@fast-check/vitest';
import { UnrecoverableError } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runUntilFinished, webForThisFile, withToken } from './web-harness.js';

const email = { to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada' };
const web = webForThisFile('web-runs');

async function enqueue(name: string, data: unknown, opts?: object): Promise<string> {
  const response = await web().app.inject({ method: 'POST', url: `/api/jobs/${name}`, headers: withToken, payload: { data, ...(opts ? { opts } : {}) } });
  expect(response.statusCode, response.body).toBe(202);
  return response.json().id;
}

function get(url: string, headers: Record<string, string> = withToken) {
  return web().app.inject({ method: 'GET', url, headers });
}

function querystring(query: Record<string, string | number>): string {
  return new URLSearchParams(Object.entries(query).map(([key, value]): [string, string] => [key, String(value)])).toString();
}

interface ListedRun {
  id: string;
  state: string;
  finishedAt: string | null;
  [field: string]: unknown;
}

async function page(name: string, query: Record<string, string | number> = {}): Promise<{ runs: ListedRun[]; nextCursor: string | null }> {
  const response = await get(`/api/jobs/${name}/runs?${querystring(query)}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

/** Every run of `name`, following `nextCursor` to the end. */
async function allRuns(name: string, query: Record<string, string | number> = {}): Promise<ListedRun[]> {
  const runs: ListedRun[] = [];
  let cursor: string | null = null;
  do {
    const next = await page(name, { ...query, ...(cursor ? { cursor } : {}) });
    runs.push(...next.runs);
    cursor = next.nextCursor;
  } while (cursor);
  return runs;
}

/**
 * A handler that fails the runs whose note says so and takes at least a millisecond, so runs
 * processed one after another finish at distinct times and their order is known.
 */
async function completeOrFail(job: { data: { note?: string } }) {
  const started = Date.now();
  while (Date.now() === started) await yieldToLoop();
  if (job.data.note?.startsWith('fail')) throw new UnrecoverableError(`asked to fail: ${job.data.note}`);
  return { ok: true };
}

// expire-coupons and cleanup-old-records share the maintenance queue; ping has the default queue to itself.
describe('GET /api/jobs/:name/runs', () => {
  it('lists finished runs newest first by finish time, completed and failed merged, with their outcome and timings', async () => {
    const notes = ['ok-1', 'fail-1', 'ok-2', 'fail-2'];
    const ids: string[] = [];
    for (const note of notes) ids.push(await enqueue('ping', { note }));
    await runUntilFinished(web(), 'default', ids, completeOrFail);

    const { runs, nextCursor } = await page('ping');
    expect(nextCursor).toBeNull();
    expect(runs.map((run) => [run.id, run.state])).toEqual([
      [ids[3], 'failed'],
      [ids[2], 'completed'],
      [ids[1], 'failed'],
      [ids[0], 'completed'],
    ]);
    expect(runs[0]).toMatchObject({ name: 'ping', queue: 'default', data: { note: 'fail-2' }, attemptsMade: 1, failedReason: 'asked to fail: fail-2' });
    expect(runs[1]).toMatchObject({ failedReason: null, scheduleId: null, scheduledFor: null, manual: false });
    for (const run of runs) {
      for (const field of ['createdAt', 'startedAt', 'finishedAt'] as const) expect(new Date(run[field] as string).toISOString()).toBe(run[field]);
      expect(run.durationMs).toBe(Date.parse(run.finishedAt as string) - Date.parse(run.startedAt as string));
      expect(run).not.toHaveProperty('logs');
    }
  });

  it('filters by state', async () => {
    const failed = await page('ping', { state: 'failed' });
    expect(failed.runs.map((run) => run.data)).toEqual([{ note: 'fail-2' }, { note: 'fail-1' }]);
    const completed = await page('ping', { state: 'completed' });
    expect(completed.runs.map((run) => run.data)).toEqual([{ note: 'ok-2' }, { note: 'ok-1' }]);
  });

  it('lists unfinished runs before finished ones, and a delayed run as delayed', async () => {
    const waiting = await enqueue('ping', { note: 'waiting' });
    const delayed = await enqueue('ping', { note: 'delayed' }, { delay: 3_600_000 });
    const runs = await allRuns('ping');
    expect(runs.slice(0, 2).map((run) => [run.id, run.state])).toEqual([
      [waiting, 'waiting'],
      [delayed, 'delayed'],
    ]);
    expect(runs.slice(2).every((run) => run.state === 'completed' || run.state === 'failed')).toBe(true);
    expect(runs[0]).toMatchObject({ startedAt: null, finishedAt: null, durationMs: null, attemptsMade: 0 });
  });

  it("lists only the job's own runs when other jobs share its queue", async () => {
    const coupons = [await enqueue('expire-coupons', {}), await enqueue('expire-coupons', {})];
    await enqueue('cleanup-old-records', { table: 'sessions', olderThanDays: 1 });
    expect((await allRuns('expire-coupons')).map((run) => run.id)).toEqual([...coupons].reverse());
    expect((await allRuns('cleanup-old-records')).map((run) => run.data)).toEqual([{ table: 'sessions', olderThanDays: 1 }]);
  });

  it('pages with limit and nextCursor: every run once, newest first, and no cursor after the last page', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 5; n += 1) ids.push(await enqueue('send-email', { ...email, subject: `Mail ${n}` }));
    const first = await page('send-email', { limit: 2 });
    expect(first.runs.map((run) => run.id)).toEqual([ids[4], ids[3]]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await page('send-email', { limit: 2, cursor: first.nextCursor as string });
    expect(second.runs.map((run) => run.id)).toEqual([ids[2], ids[1]]);
    const rest = await allRuns('send-email', { limit: 2, cursor: second.nextCursor as string });
    expect(rest.map((run) => run.id)).toEqual([ids[0]]);
  });

  it('looks at no more than 1000 runs of the queue per page, and the cursor carries on from there', async () => {
    // One old cleanup run behind 1100 newer runs of another job of the same queue.
    const old = await enqueue('cleanup-old-records', { table: 'audit_log', olderThanDays: 2 });
    await web().queueOf('expire-coupons').addBulk(Array.from({ length: 1100 }, () => ({ name: 'expire-coupons', data: {} })));
    const first = await page('cleanup-old-records', { state: 'waiting' });
    expect(first.runs).toEqual([]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await page('cleanup-old-records', { state: 'waiting', cursor: first.nextCursor as string });
    expect(second.runs.map((run) => run.id)).toContain(old);
  });

  it('shows the schedule and nominal tick of scheduled and manual runs', async () => {
    const tick = Date.UTC(2026, 0, 5, 18, 0);
    const queue = web().queueOf('daily-report');
    await queue.add('daily-report', { recipients: ['a@example.com'] }, { jobId: `daily-report-team@${tick}` });
    await queue.add('daily-report', { recipients: ['a@example.com'] }, { jobId: `daily-report-team@${tick + 1000}.manual` });
    const { runs } = await page('daily-report');
    expect(runs).toEqual([
      expect.objectContaining({ scheduleId: 'daily-report-team', scheduledFor: new Date(tick + 1000).toISOString(), manual: true }),
      expect.objectContaining({ scheduleId: 'daily-report-team', scheduledFor: new Date(tick).toISOString(), manual: false }),
    ]);
  });

  it('filters by schedule: its ticks and manual runs only, not another schedule whose id it begins, nor unscheduled runs, across pages', async () => {
    const tick = Date.UTC(2026, 1, 5, 18, 0);
    const queue = web().queueOf('expire-coupons');
    const ours = [`coupons-eu@${tick}`, `coupons-eu@${tick + 1000}.manual`, `coupons-eu@${tick + 2000}`];
    for (const jobId of [ours[0], `coupons-eu-2@${tick}`, ours[1], `coupons@${tick}`, ours[2]] as string[]) await queue.add('expire-coupons', {}, { jobId });
    await enqueue('expire-coupons', {});
    const listed = await allRuns('expire-coupons', { schedule: 'coupons-eu', limit: 1 });
    expect(listed.map((run) => run.id)).toEqual([...ours].reverse());
    expect(new Set(listed.map((run) => run.scheduleId))).toEqual(new Set(['coupons-eu']));
    expect((await page('expire-coupons', { schedule: 'no-such-schedule' })).runs).toEqual([]);

    const bad = await get('/api/jobs/expire-coupons/runs?schedule=not%20an%20id');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'DRUMLINE_INVALID_REQUEST', issues: [expect.objectContaining({ path: 'schedule' })] });
    const { nextCursor } = await page('expire-coupons', { schedule: 'coupons-eu', limit: 1 });
    for (const other of ['', '&schedule=coupons-eu-2']) {
      const mixed = await get(`/api/jobs/expire-coupons/runs?limit=1&cursor=${nextCursor}${other}`);
      expect(mixed.statusCode).toBe(400);
      expect(mixed.json().issues).toEqual([{ path: 'cursor', message: expect.stringMatching(/schedule/) }]);
    }
  });

  // Ids that begin one another, and ticks and manual runs of each, against the list the test made itself.
  const madeRun = fc.record({ schedule: fc.constantFrom('a', 'a-1', 'a.1', 'a1', 'b', 'a-1-a'), tick: fc.integer({ min: 0, max: 4_102_444_800_000 }), manual: fc.boolean() });
  test.prop([fc.uniqueArray(madeRun, { minLength: 1, maxLength: 12, selector: ({ schedule, tick }) => `${schedule}@${tick}` }), fc.constantFrom('a', 'a-1', 'b', 'c'), fc.integer({ min: 1, max: 4 })], { numRuns: 15 })(
    "lists exactly the schedule's own runs, newest first, whatever ids the other schedules have and however it pages",
    async (made, target, limit) => {
      const namespace = `p${randomBytes(4).toString('hex')}-`;
      const queue = web().queueOf('expire-coupons');
      const ids = made.map(({ schedule, tick, manual }) => `${namespace}${schedule}@${tick}${manual ? '.manual' : ''}`);
      for (const jobId of ids) await queue.add('expire-coupons', {}, { jobId });
      const expected = ids.filter((_, index) => made[index]?.schedule === target).reverse();
      const listed = await allRuns('expire-coupons', { schedule: `${namespace}${target}`, state: 'waiting', limit });
      expect(listed.map((run) => run.id)).toEqual(expected);
    },
  );

  it('still lists waiting runs while their queue is paused', async () => {
    const id = await enqueue('daily-report', { recipients: ['paused@example.com'] });
    const queue = web().queueOf('daily-report');
    await queue.pause();
    try {
      expect((await page('daily-report', { state: 'waiting' })).runs.map((run) => run.id)).toContain(id);
    } finally {
      await queue.resume();
    }
  });

  it.each([
    ['an unknown state', { state: 'done' }, 'state'],
    ['a limit of 0', { limit: 0 }, 'limit'],
    ['a limit above 100', { limit: 101 }, 'limit'],
    ['a limit that is not a number', { limit: 'ten' }, 'limit'],
    ['an unknown parameter', { page: 2 }, ''],
  ])('refuses %s with 400 naming the field', async (_what, query, path) => {
    const response = await get(`/api/jobs/ping/runs?${querystring(query)}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_INVALID_REQUEST', issues: [expect.objectContaining({ path })] });
    if (path) expect(response.json().message).toContain(path);
  });

  it('refuses a cursor it did not give out, and one given out for another state, with 400 naming `cursor`', async () => {
    const forged = await get('/api/jobs/ping/runs?cursor=not-a-cursor');
    expect(forged.statusCode).toBe(400);
    expect(forged.json()).toMatchObject({ error: 'DRUMLINE_INVALID_CURSOR', issues: [{ path: 'cursor', message: expect.any(String) }] });
    const { nextCursor } = await page('ping', { state: 'completed', limit: 1 });
    const otherState = await get(`/api/jobs/ping/runs?state=failed&cursor=${nextCursor}`);
    expect(otherState.statusCode).toBe(400);
    expect(otherState.json().issues).toEqual([{ path: 'cursor', message: expect.stringMatching(/state/) }]);
  });

  it('answers 404 for an unknown job and 401 without the token', async () => {
    const unknown = await get('/api/jobs/no-such-job/runs');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('DRUMLINE_UNKNOWN_JOB');
    const anonymous = await get('/api/jobs/ping/runs', {});
    expect(anonymous.statusCode).toBe(401);
  });
});

describe('GET /api/jobs/:name/runs/:id', () => {
  it('shows a completed run with its return value, progress and logs', async () => {
    const id = await enqueue('ping', { note: 'hello' }, { jobId: 'run-view-ok' });
    await runUntilFinished(web(), 'default', id, async (job) => {
      if (job.id !== id) return;
      await job.log('first line');
      await job.log('second line');
      await job.updateProgress(100);
      return { pong: true };
    });
    const response = await web().app.inject({ method: 'GET', url: `/api/jobs/ping/runs/${id}`, headers: withToken });
    expect(response.statusCode).toBe(200);
    const run = response.json();
    expect(run).toMatchObject({
      id,
      name: 'ping',
      queue: 'default',
      state: 'completed',
      data: { note: 'hello' },
      returnValue: { pong: true },
      failedReason: null,
      attemptsMade: 1,
      progress: 100,
      logs: ['first line', 'second line'],
      scheduleId: null,
      scheduledFor: null,
    });
    for (const field of ['createdAt', 'startedAt', 'finishedAt']) expect(new Date(run[field]).toISOString()).toBe(run[field]);
  });

  it('shows a failed run with its reason', async () => {
    const id = await enqueue('send-email', email, { jobId: 'run-view-failed' });
    await runUntilFinished(web(), 'email', id, async () => {
      throw new UnrecoverableError('mail provider refused the address');
    });
    const run = (await web().app.inject({ method: 'GET', url: `/api/jobs/send-email/runs/${id}`, headers: withToken })).json();
    expect(run).toMatchObject({ state: 'failed', failedReason: 'mail provider refused the address', returnValue: null, finishedAt: expect.any(String) });
  });

  it('shows a waiting run with nulls for what has not happened yet', async () => {
    const id = await enqueue('daily-report', { recipients: ['a@example.com'] });
    const run = (await web().app.inject({ method: 'GET', url: `/api/jobs/daily-report/runs/${id}`, headers: withToken })).json();
    expect(run).toMatchObject({ state: 'waiting', startedAt: null, finishedAt: null, returnValue: null, logs: [], attemptsMade: 0 });
  });

  it('reads the schedule and nominal tick of a scheduled run from its id', async () => {
    const tick = Date.UTC(2026, 0, 5, 18, 0);
    const id = `expire-coupons-nightly@${tick}`;
    await web().queueOf('expire-coupons').add('expire-coupons', {}, { jobId: id });
    const run = (await web().app.inject({ method: 'GET', url: `/api/jobs/expire-coupons/runs/${encodeURIComponent(id)}`, headers: withToken })).json();
    expect(run).toMatchObject({ id, scheduleId: 'expire-coupons-nightly', scheduledFor: new Date(tick).toISOString() });
  });

  it('answers 404 for an unknown run id, a run of another job, and an unknown job name', async () => {
    const unknownId = await web().app.inject({ method: 'GET', url: '/api/jobs/ping/runs/no-such-run', headers: withToken });
    expect(unknownId.statusCode).toBe(404);
    expect(unknownId.json().error).toBe('DRUMLINE_RUN_NOT_FOUND');

    // expire-coupons and cleanup-old-records share the maintenance queue.
    const id = await enqueue('expire-coupons', {});
    const otherJob = await web().app.inject({ method: 'GET', url: `/api/jobs/cleanup-old-records/runs/${id}`, headers: withToken });
    expect(otherJob.statusCode).toBe(404);
    expect(otherJob.json().error).toBe('DRUMLINE_RUN_NOT_FOUND');

    const unknownJob = await web().app.inject({ method: 'GET', url: `/api/jobs/no-such-job/runs/${id}`, headers: withToken });
    expect(unknownJob.statusCode).toBe(404);
    expect(unknownJob.json().error).toBe('DRUMLINE_UNKNOWN_JOB');
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentForThisFile, putSchedule } from '../../../tests/support/deployment.js';
import { freePort } from '../../../tests/support/processes.js';
import {
  ConflictError,
  createClient,
  InvalidRequestError,
  isBroken,
  NetworkError,
  NotFoundError,
  RequestTimeoutError,
  ServerError,
  UnauthorizedError,
  type DrumlineClient,
  type Run,
  type Schedule,
} from '../src/index.js';
import { FaultProxy } from './fault-proxy.js';

// The client against the real web and a real worker, each its own process on real Redis. Runs use
// `ping`, the smoke-test job that ships (the end-to-end tests use it too); the type tests use
// fixture jobs of their own (client.test-d.ts).
const deployment = deploymentForThisFile('client', { workers: 1 });
let drumline: DrumlineClient;
let proxy: FaultProxy;

beforeAll(async () => {
  drumline = createClient({ url: deployment().url, token: deployment().token });
  proxy = await FaultProxy.start(deployment().url);
});

afterAll(async () => {
  await proxy?.close();
});

/** A client that goes through the fault proxy, retrying quickly. */
function throughProxy(options: { retries?: number; timeoutMs?: number } = {}) {
  return createClient({ url: proxy.url, token: deployment().token, retries: options.retries ?? 2, timeoutMs: options.timeoutMs ?? 5_000 });
}

describe('enqueue and read runs', () => {
  it('enqueues a run and waitForRun resolves with it completed and what the handler returned', async () => {
    const run = await drumline.enqueue('ping', { note: 'from the client' });
    expect(run).toMatchObject({ name: 'ping', queue: 'default', duplicate: false });
    const finished = await drumline.waitForRun('ping', run.id, { timeoutMs: 30_000 });
    expect(finished).toMatchObject({ id: run.id, state: 'completed', data: { note: 'from the client' }, attemptsMade: 1 });
    expect(finished.returnValue).toMatchObject({ note: 'from the client', pid: deployment().workers[0]?.pid });
  });

  it('waitForRun resolves with the run as it is when the deadline comes first', async () => {
    const run = await drumline.enqueue('ping', {}, { delay: 600_000 });
    const current = await drumline.waitForRun('ping', run.id, { timeoutMs: 200 });
    expect(current).toMatchObject({ id: run.id, state: 'delayed' });
  });

  it('enqueues a jobId once: the same id again answers the existing run as a duplicate', async () => {
    const first = await drumline.enqueue('ping', { note: 'once' }, { jobId: 'client-once', delay: 600_000 });
    const again = await drumline.enqueue('ping', { note: 'twice' }, { jobId: 'client-once', delay: 600_000 });
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ ...first, duplicate: true });
    expect((await drumline.getRun('ping', 'client-once')).data).toEqual({ note: 'once' });
  });

  it('enqueues many runs at once with bulk', async () => {
    const runs = await drumline.bulk('ping', [{ data: { note: 'a' } }, { data: { note: 'b' }, opts: { delay: 600_000 } }]);
    expect(runs).toMatchObject({ name: 'ping', queue: 'default', duplicates: [] });
    expect(runs.ids).toHaveLength(2);
    const keyed = await drumline.bulk('ping', [{ data: {}, opts: { jobId: 'client-bulk-1', delay: 600_000 } }]);
    expect(await drumline.bulk('ping', [{ data: {}, opts: { jobId: 'client-bulk-1', delay: 600_000 } }, { data: {}, opts: { jobId: 'client-bulk-2', delay: 600_000 } }])).toMatchObject({
      ids: ['client-bulk-1', 'client-bulk-2'],
      duplicates: keyed.ids,
    });
    const second = await drumline.getRun('ping', runs.ids[1] as string);
    expect(second).toMatchObject({ state: 'delayed', data: { note: 'b' } });
  });

  it('lists runs by state, page after page', async () => {
    const delayed = await drumline.bulk('ping', [1, 2, 3].map((n) => ({ data: { note: `listed ${n}` }, opts: { delay: 600_000 } })));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await drumline.listRuns('ping', { state: 'delayed', limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.runs.every((run) => run.state === 'delayed')).toBe(true);
      seen.push(...page.runs.map((run) => run.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(delayed.ids));
  });

  it('lists every job the deployment defines', async () => {
    const jobs = await drumline.jobs();
    expect(jobs.map((job) => job.name)).toContain('ping');
    expect(jobs.find((job) => job.name === 'ping')).toMatchObject({ queue: 'default', payloadSchema: expect.objectContaining({ type: 'object' }) });
  });
});

describe('typed errors', () => {
  it('refuses an invalid payload with InvalidRequestError naming the field, and enqueues nothing', async () => {
    const before = await drumline.listRuns('ping', { state: 'waiting', limit: 100 });
    const error = await drumline.enqueue('ping', { sleepMs: -1 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ status: 400, apiCode: 'DRUMLINE_INVALID_PAYLOAD', code: 'DRUMLINE_CLIENT_INVALID_REQUEST' });
    expect((error as InvalidRequestError).issues).toEqual([expect.objectContaining({ path: 'data.sleepMs' })]);
    expect((await drumline.listRuns('ping', { state: 'waiting', limit: 100 })).runs.length).toBe(before.runs.length);
  });

  it('throws NotFoundError for an unknown job, run or schedule, with the API code saying which', async () => {
    await expect(drumline.enqueue('no-such-job', {})).rejects.toMatchObject({ name: 'NotFoundError', status: 404, apiCode: 'DRUMLINE_UNKNOWN_JOB' });
    await expect(drumline.getRun('ping', 'no-such-run')).rejects.toMatchObject({ name: 'NotFoundError', apiCode: 'DRUMLINE_RUN_NOT_FOUND' });
    await expect(drumline.schedules.get('no-such-schedule')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('throws UnauthorizedError for a wrong token', async () => {
    const stranger = createClient({ url: deployment().url, token: 'not-the-token-at-all' });
    await expect(stranger.jobs()).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('throws NetworkError when nothing listens at the url', async () => {
    const nowhere = createClient({ url: `http://127.0.0.1:${await freePort()}`, token: 't', retries: 0 });
    await expect(nowhere.jobs()).rejects.toBeInstanceOf(NetworkError);
  });

  it('throws RequestTimeoutError when the answer does not come within timeoutMs', async () => {
    proxy.inject('hang');
    await expect(throughProxy({ retries: 0, timeoutMs: 300 }).jobs()).rejects.toBeInstanceOf(RequestTimeoutError);
  });
});

describe('retries', () => {
  it('retries a read after a 503 and a lost answer, and returns the real answer', async () => {
    proxy.inject('unavailable', 'drop-answer');
    const seen = proxy.requests.length;
    const jobs = await throughProxy().jobs();
    expect(jobs.map((job) => job.name)).toContain('ping');
    expect(proxy.requests.slice(seen)).toEqual(['GET /api/jobs', 'GET /api/jobs', 'GET /api/jobs']);
  });

  it('retries an enqueue with a jobId whose answer was lost, and the run exists once', async () => {
    proxy.inject('drop-answer');
    const seen = proxy.requests.length;
    const run = await throughProxy().enqueue('ping', { note: 'lost answer' }, { jobId: 'client-lost-answer', delay: 600_000 });
    // The retry found the run the lost answer was about.
    expect(run).toMatchObject({ id: 'client-lost-answer', duplicate: true });
    expect(proxy.requests.slice(seen)).toHaveLength(2);
    const listed = (await drumline.listRuns('ping', { state: 'delayed', limit: 100 })).runs.filter((listedRun) => listedRun.data && (listedRun.data as { note?: string }).note === 'lost answer');
    expect(listed.map((listedRun) => listedRun.id)).toEqual(['client-lost-answer']);
  });

  it('never retries an enqueue without a jobId, which could enqueue twice', async () => {
    proxy.inject('unavailable');
    const seen = proxy.requests.length;
    await expect(throughProxy().enqueue('ping', { note: 'not retried' })).rejects.toBeInstanceOf(ServerError);
    expect(proxy.requests.slice(seen)).toEqual(['POST /api/jobs/ping']);
  });

  it('gives up after `retries` retries with the last error', async () => {
    proxy.inject('unavailable', 'unavailable', 'unavailable');
    const seen = proxy.requests.length;
    await expect(throughProxy({ retries: 2 }).jobs()).rejects.toMatchObject({ name: 'ServerError', status: 503, apiCode: 'PROXY_UNAVAILABLE' });
    expect(proxy.requests.slice(seen)).toHaveLength(3);
  });
});

describe('run control', () => {
  it('cancels a run that has not started: it is removed', async () => {
    const run = await drumline.enqueue('ping', {}, { delay: 600_000 });
    expect(await drumline.cancel('ping', run.id)).toEqual({ id: run.id, state: 'cancelled' });
    await expect(drumline.getRun('ping', run.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('cancels an active run: its worker aborts it and it ends failed as cancelled', async () => {
    const run = await drumline.enqueue('ping', { sleepMs: 120_000 });
    await expect.poll(async () => (await drumline.getRun('ping', run.id)).state, { timeout: 30_000 }).toBe('active');
    expect(await drumline.cancel('ping', run.id)).toEqual({ id: run.id, state: 'cancelling' });
    const ended = await drumline.waitForRun('ping', run.id, { timeoutMs: 30_000 });
    // Not retried (ping has 3 attempts) is the API's to pin (apps/web, tests/e2e); here, what the client reads.
    expect(ended.state).toBe('failed');
    expect(ended.failedReason).toMatch(/^cancelled/);
  });

  it('retries a failed run, which runs again, and refuses with ConflictError to cancel it once finished or to retry a completed run', async () => {
    const run = await drumline.enqueue('ping', { failWith: 'client retry test' });
    const failed = await drumline.waitForRun('ping', run.id, { timeoutMs: 30_000 });
    expect(failed).toMatchObject({ state: 'failed', failedReason: 'client retry test', attemptsMade: 3 });
    await expect(drumline.cancel('ping', run.id)).rejects.toMatchObject({ name: 'ConflictError', status: 409 });
    expect(await drumline.retry('ping', run.id)).toEqual({ id: run.id, state: 'waiting' });
    const again = await drumline.waitForRun('ping', run.id, { timeoutMs: 30_000 });
    expect(again).toMatchObject({ state: 'failed', failedReason: 'client retry test', attemptsMade: 3 });

    const completed = await drumline.enqueue('ping', {});
    expect((await drumline.waitForRun('ping', completed.id, { timeoutMs: 30_000 })).state).toBe('completed');
    await expect(drumline.retry('ping', completed.id)).rejects.toBeInstanceOf(ConflictError);
  });

  it('deletes a finished run, and refuses an unfinished one with ConflictError', async () => {
    const run = await drumline.enqueue('ping', {});
    await drumline.waitForRun('ping', run.id, { timeoutMs: 30_000 });
    await drumline.deleteRun('ping', run.id);
    await expect(drumline.getRun('ping', run.id)).rejects.toBeInstanceOf(NotFoundError);
    const waiting = await drumline.enqueue('ping', {}, { delay: 600_000 });
    await expect(drumline.deleteRun('ping', waiting.id)).rejects.toBeInstanceOf(ConflictError);
  });
});

describe('schedules', () => {
  it('lists, shows, pauses and resumes a schedule', async () => {
    await putSchedule(deployment(), 'client-hourly', { job: 'ping', every: '1h', data: { note: 'hourly' } });
    const listed = [];
    for await (const schedule of drumline.schedules.all({ pageSize: 1 })) listed.push(schedule);
    const mine = listed.find((schedule) => schedule.id === 'client-hourly');
    expect(mine && !isBroken(mine) ? mine : undefined).toMatchObject({ job: 'ping', owner: 'api', spec: { every: 3_600_000 }, paused: false });
    expect(await drumline.schedules.pause('client-hourly')).toMatchObject({ paused: true, nextRuns: [] });
    expect((await drumline.schedules.get('client-hourly')).paused).toBe(true);
    const resumed = await drumline.schedules.resume('client-hourly');
    expect(resumed.paused).toBe(false);
    expect(resumed.nextRuns).toHaveLength(5);
  });

  it("triggers a run now with the schedule's data", async () => {
    await putSchedule(deployment(), 'client-trigger', { job: 'ping', every: '1d', data: { note: 'triggered' } });
    const run = await drumline.schedules.trigger('client-trigger');
    expect(run).toMatchObject({ name: 'ping', queue: 'default' });
    const finished = await drumline.waitForRun('ping', run.id, { timeoutMs: 30_000 });
    expect(finished).toMatchObject({ state: 'completed', scheduleId: 'client-trigger', manual: true, data: { note: 'triggered' } });
  });
});

describe('backfill', () => {
  it("runs each tick of a past range once: a second backfill of it enqueues nothing and skips them all", async () => {
    await putSchedule(deployment(), 'client-backfill', { job: 'ping', every: '1h', data: { note: 'backfilled' } });
    const hour = 3_600_000;
    const to = new Date(Math.floor(Date.now() / hour) * hour - hour);
    const from = new Date(to.getTime() - 2 * hour);
    expect(await drumline.schedules.backfill('client-backfill', { from, to })).toEqual({ ticks: 3, enqueued: 3, skipped: 0 });
    expect(await drumline.schedules.backfill('client-backfill', { from: from.toISOString(), to: to.toISOString() })).toEqual({ ticks: 3, enqueued: 0, skipped: 3 });
    const runs = await Promise.all([0, 1, 2].map((n) => drumline.waitForRun('ping', `client-backfill@${from.getTime() + n * hour}`, { timeoutMs: 30_000 })));
    expect(runs.map((run) => [run.state, run.scheduleId, run.scheduledFor])).toEqual(
      [0, 1, 2].map((n) => ['completed', 'client-backfill', new Date(from.getTime() + n * hour).toISOString()]),
    );
  });

  it('refuses a range of more than 1000 ticks with InvalidRequestError, and enqueues nothing', async () => {
    await putSchedule(deployment(), 'client-backfill-long', { job: 'ping', every: '1m' });
    const to = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000);
    const from = new Date(to.getTime() - 2000 * 60_000);
    await expect(drumline.schedules.backfill('client-backfill-long', { from, to })).rejects.toBeInstanceOf(InvalidRequestError);
    expect((await drumline.listRuns('ping', { state: 'waiting', limit: 100 })).runs.filter((run) => run.scheduleId === 'client-backfill-long')).toEqual([]);
  });
});

describe('ticks', () => {
  it("lists a schedule's ticks with what became of each, and tells one tick's story with the worker that ran it", async () => {
    await putSchedule(deployment(), 'client-ticks', { job: 'ping', every: '1h' });
    const hour = 3_600_000;
    const tick = Math.floor(Date.now() / hour) * hour - hour;
    await drumline.schedules.backfill('client-ticks', { from: new Date(tick), to: new Date(tick) });
    await drumline.waitForRun('ping', `client-ticks@${tick}`, { timeoutMs: 30_000 });
    // The worker writes a run's ledger events just after it ends, with the others of those 100 ms.
    await expect.poll(async () => (await drumline.schedules.ticks('client-ticks')).ticks[0]?.state, { timeout: 10_000 }).toBe('ran');
    const page = await drumline.schedules.ticks('client-ticks', { from: new Date(tick - hour) });
    expect(page.ticks).toEqual([expect.objectContaining({ tick: new Date(tick).toISOString(), state: 'ran', runId: `client-ticks@${tick}`, attempts: 1 })]);
    expect(page.counts).toEqual({ ran: 1, failed: 0, skipped: 0, missed: 0, pending: 0 });
    const story = await drumline.schedules.tick('client-ticks', new Date(tick));
    const worker = deployment().workers[0]!;
    expect(story.events.map((line) => [line.kind, line.actor])).toEqual([
      ['backfilled', 'web (backfill)'],
      ['started', expect.stringMatching(new RegExp(`:${worker.pid}$`))],
      ['completed', expect.stringMatching(new RegExp(`:${worker.pid}$`))],
    ]);
    expect(await drumline.schedules.tick('client-ticks', tick)).toEqual(story);
    await expect(drumline.schedules.tick('client-ticks', tick + 1)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("the client's types", () => {
  // Each list must name every field of its type and no other (tsc checks that), so a field the API
  // adds or drops fails here until the client's types follow.
  const RUN_FIELDS = {
    id: true, name: true, queue: true, state: true, data: true, attemptsMade: true, failedReason: true, createdAt: true, startedAt: true,
    finishedAt: true, durationMs: true, scheduleId: true, scheduledFor: true, manual: true, returnValue: true, progress: true, logs: true,
  } satisfies Record<keyof Run, true>;
  const SCHEDULE_FIELDS = {
    id: true, job: true, spec: true, tz: true, data: true, misfire: true, misfireCap: true, misfireGraceMs: true, overlap: true, jitterMs: true, owner: true,
    paused: true, nextRuns: true, lastRun: true, overdue: true,
  } satisfies Record<keyof Schedule, true>;

  it('name exactly the fields the API answers a run and a schedule with', async () => {
    const run = await drumline.enqueue('ping', {}, { delay: 600_000 });
    expect(Object.keys(await drumline.getRun('ping', run.id)).sort()).toEqual(Object.keys(RUN_FIELDS).sort());
    await putSchedule(deployment(), 'client-fields', { job: 'ping', every: '1h' });
    expect(Object.keys(await drumline.schedules.get('client-fields')).sort()).toEqual(Object.keys(SCHEDULE_FIELDS).sort());
  });
});

describe('the built package', () => {
  it('imports nothing but Node built-ins at run time: no handler, no Drumline package, no dependency', () => {
    const dist = new URL('../dist/', import.meta.url);
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.js'));
    expect(files).toContain('index.js');
    // Statements at the start of a line, as tsc writes them: the JSDoc's `import type` example is not one.
    const statement = /^(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
    const imports = files.flatMap((file) => [...readFileSync(new URL(file, dist), 'utf8').matchAll(statement)].map((match) => match[1] ?? match[2] ?? match[3]));
    expect(imports).toContain('node:timers/promises');
    expect(imports.filter((specifier) => !specifier?.startsWith('node:') && !specifier?.startsWith('.'))).toEqual([]);
  });
});

import { codeScheduleRecords, jitterOffsetMs, MAX_SCHEDULE_ID_LENGTH, parseScheduledRunId, SCHEDULE_ID_RULE, ScheduleStore } from '@drumline/core/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { keyspaceChanges, snapshotKeyspace } from '../../../tests/support/keyspace.js';
import { webForThisFile, withToken } from './web-harness.js';

const web = webForThisFile('web-schedules');
const minute = 60_000;

function call(method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, payload?: object, headers: Record<string, string> = withToken) {
  return web().app.inject({ method, url: `/api/schedules${url}`, headers, ...(payload ? { payload } : {}) });
}

function store() {
  return new ScheduleStore(web().app.redis, web().queues.prefix);
}

beforeAll(async () => {
  // The code-declared schedules, as the leading scheduler's reconciliation writes them at start-up.
  const { redis } = web().app;
  for (const record of codeScheduleRecords(web().queues.registry)) await redis.hset(store().keys.schedules, record.id, JSON.stringify(record));
});

describe('GET /api/schedules', () => {
  it('lists every schedule by id, code and API owned, with its next 5 runs', async () => {
    expect((await call('PUT', '/ping-hourly', { job: 'ping', every: '1h' })).statusCode).toBe(201);
    const response = await call('GET', '');
    expect(response.statusCode).toBe(200);
    const { schedules } = response.json();
    const ids = schedules.map((schedule: { id: string }) => schedule.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toEqual(expect.arrayContaining(['cleanup-sessions', 'daily-report-team', 'ping-hourly']));
    const ping = schedules.find((schedule: { id: string }) => schedule.id === 'ping-hourly');
    expect(ping).toMatchObject({ job: 'ping', owner: 'api', paused: false, spec: { every: 3_600_000 }, tz: null, lastRun: null });
    const next = ping.nextRuns.map(Date.parse);
    expect(next).toHaveLength(5);
    expect(next[0]).toBeGreaterThan(Date.now() - 1000);
    for (const [index, tick] of next.entries()) {
      expect(tick % 3_600_000).toBe(0);
      if (index > 0) expect(tick - next[index - 1]).toBe(3_600_000);
    }
  });
});

describe('GET /api/schedules/:id', () => {
  it("gives a cron schedule's next runs in its time zone", async () => {
    const response = await call('GET', '/daily-report-team');
    expect(response.statusCode).toBe(200);
    const schedule = response.json();
    expect(schedule).toMatchObject({ id: 'daily-report-team', job: 'daily-report', owner: 'code', spec: { cron: '30 9 * * 1-5' }, tz: 'Europe/Berlin' });
    const berlin = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    for (const run of schedule.nextRuns) expect(berlin.format(new Date(run))).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:30$/);
    expect(schedule.nextRuns).toHaveLength(5);
  });

  it('shows the last run with its lateness: start minus the nominal tick', async () => {
    const scheduledFor = Date.UTC(2026, 0, 5, 8, 30);
    await store().recordRun('daily-report-team', {
      runId: `daily-report-team@${scheduledFor}`,
      scheduledFor,
      startedAt: scheduledFor + 1500,
      finishedAt: scheduledFor + 4000,
      state: 'completed',
    });
    const { lastRun } = (await call('GET', '/daily-report-team')).json();
    expect(lastRun).toEqual({
      runId: `daily-report-team@${scheduledFor}`,
      scheduledFor: new Date(scheduledFor).toISOString(),
      startedAt: new Date(scheduledFor + 1500).toISOString(),
      finishedAt: new Date(scheduledFor + 4000).toISOString(),
      state: 'completed',
      attempts: 1,
      latenessMs: 1500,
    });
  });

  it('shows every policy of the stored record, misfireCap and misfireGraceMs too, so a client can compare it with code', async () => {
    expect((await call('PUT', '/ping-capped', { job: 'ping', every: '1h', misfire: 'all', misfireCap: 7, misfireGraceMs: 60_000 })).statusCode).toBe(201);
    expect((await call('GET', '/ping-capped')).json()).toMatchObject({ misfire: 'all', misfireCap: 7, misfireGraceMs: 60_000, overlap: 'allow' });
    expect((await call('PUT', '/ping-capped', { job: 'ping', every: '1h' })).json()).toMatchObject({ misfire: 'once', misfireCap: 100, misfireGraceMs: null });
  });

  it("shows a jittered schedule's jitterMs, and its last run's lateness from when it was due, not from its tick", async () => {
    expect((await call('PUT', '/ping-jittered', { job: 'ping', every: '1h', jitterMs: 20_000 })).statusCode).toBe(201);
    const scheduledFor = Date.UTC(2026, 0, 6, 9);
    const due = scheduledFor + jitterOffsetMs('ping-jittered', scheduledFor, 20_000);
    await store().recordRun('ping-jittered', { runId: `ping-jittered@${scheduledFor}`, scheduledFor, startedAt: due + 40, finishedAt: due + 90, state: 'completed' });
    expect((await call('GET', '/ping-jittered')).json()).toMatchObject({ jitterMs: 20_000, lastRun: { latenessMs: 40 } });
    expect((await call('PUT', '/ping-jittered', { job: 'ping', every: '1h', jitterMs: 30_001 })).json()).toMatchObject({ error: 'DRUMLINE_INVALID_REQUEST', issues: [{ path: 'jitterMs' }] });
  });

  it("shows a retried last run's lateness from its first attempt's start, and its attempts apart", async () => {
    const scheduledFor = Date.UTC(2026, 0, 6, 8, 30);
    await store().recordRun('daily-report-team', {
      runId: `daily-report-team@${scheduledFor}`,
      scheduledFor,
      startedAt: scheduledFor + 20,
      finishedAt: scheduledFor + 1200,
      state: 'failed',
      reason: 'report service down',
      attempt: 3,
    });
    const { lastRun } = (await call('GET', '/daily-report-team')).json();
    expect(lastRun).toMatchObject({ state: 'failed', startedAt: new Date(scheduledFor + 20).toISOString(), attempts: 3, latenessMs: 20 });
  });

  it('answers 404 for an unknown id', async () => {
    const response = await call('GET', '/no-such-schedule');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_UNKNOWN_SCHEDULE', message: expect.stringMatching(/no-such-schedule/) });
  });
});

describe('PUT /api/schedules/:id', () => {
  it('creates with 201, then replaces with 200, and flags the schedule for the leader', async () => {
    const created = await call('PUT', '/report-ops', { job: 'daily-report', cron: '0 7 * * *', tz: 'Asia/Tokyo', data: { recipients: ['ops@example.com'] } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: 'report-ops', owner: 'api', spec: { cron: '0 7 * * *' }, tz: 'Asia/Tokyo', misfire: 'once', overlap: 'allow' });
    const replaced = await call('PUT', '/report-ops', { job: 'daily-report', every: 30 * minute, data: { recipients: ['ops@example.com'] }, overlap: 'skip' });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ spec: { every: 30 * minute }, tz: null, overlap: 'skip' });
    expect((await call('GET', '/report-ops')).json().spec).toEqual({ every: 30 * minute });
    expect(await web().app.redis.sismember(store().keys.schedulesChanged, 'report-ops')).toBe(1);
  });

  it.each([
    ['a cron with minute 61', { job: 'ping', cron: '61 * * * *' }, 'cron'],
    ['an unknown time zone', { job: 'ping', cron: '0 * * * *', tz: 'Mars/Olympus' }, 'tz'],
    ['a payload that fails the job schema', { job: 'daily-report', every: '1h', data: { recipients: [] } }, 'data.recipients'],
    ['an unknown job', { job: 'no-such-job', every: '1h' }, 'job'],
    ['an unknown field', { job: 'ping', every: '1h', evry: '2h' }, ''],
    ['an interval that is not one', { job: 'ping', every: 'soon' }, 'every'],
    ['two timings at once', { job: 'ping', every: '1h', cron: '0 * * * *' }, 'cron'],
    ['no job', { every: '1h' }, 'job'],
  ])('refuses %s with 400 naming the field, and stores nothing', async (_what, body, path) => {
    const response = await call('PUT', '/refused', body);
    expect(response.statusCode).toBe(400);
    expect(response.json().issues).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    expect(await store().get('refused')).toBeUndefined();
  });

  it('refuses an id that could not name a run (it must not contain @) with 400 naming `id`', async () => {
    const response = await call('PUT', '/nightly@2', { job: 'ping', every: '1h' });
    expect(response.statusCode).toBe(400);
    expect(response.json().issues).toEqual([expect.objectContaining({ path: 'id' })]);
    expect(await store().get('nightly@2')).toBeUndefined();
  });

  it('refuses a lone surrogate in data with 400 and stores nothing, so later writes to the id still work', async () => {
    const refused = await web().app.inject({
      method: 'PUT',
      url: '/api/schedules/half-pair',
      headers: { ...withToken, 'content-type': 'application/json' },
      payload: '{"job":"ping","every":"1h","data":{"note":"\\udc00"}}',
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: 'DRUMLINE_UNPAIRED_SURROGATE', issues: [{ path: 'data.note' }] });
    expect(await store().get('half-pair')).toBeUndefined();
    expect((await call('PUT', '/half-pair', { job: 'ping', every: '1h', data: { note: '\u{1F600}' } })).statusCode).toBe(201);
    expect((await call('PUT', '/half-pair', { job: 'ping', every: '2h' })).statusCode).toBe(200);
    expect((await call('DELETE', '/half-pair')).statusCode).toBe(204);
  });

  it('refuses a missing body with 400', async () => {
    const response = await web().app.inject({ method: 'PUT', url: '/api/schedules/no-body', headers: withToken });
    expect(response.statusCode).toBe(400);
    expect(await store().get('no-body')).toBeUndefined();
  });

  it('refuses to replace or delete a schedule declared in code with 409, and leaves it as it was', async () => {
    const before = await store().get('cleanup-sessions');
    const put = await call('PUT', '/cleanup-sessions', { job: 'ping', every: '1m' });
    expect(put.statusCode).toBe(409);
    expect(put.json()).toMatchObject({ error: 'DRUMLINE_CODE_OWNED_SCHEDULE', message: expect.stringMatching(/cleanup-sessions/) });
    expect((await call('DELETE', '/cleanup-sessions')).statusCode).toBe(409);
    expect(await store().get('cleanup-sessions')).toEqual(before);
  });
});

describe(`ids up to ${MAX_SCHEDULE_ID_LENGTH} characters`, () => {
  const longest = `L${'o'.repeat(MAX_SCHEDULE_ID_LENGTH - 1)}`;

  it('work on every per-id route, and so does the manual run id made for the longest one', async () => {
    expect((await call('PUT', `/${longest}`, { job: 'ping', every: '1h' })).statusCode).toBe(201);
    expect((await call('GET', `/${longest}`)).statusCode).toBe(200);
    expect((await call('POST', `/${longest}/pause`)).json()).toMatchObject({ id: longest, paused: true });
    expect((await call('POST', `/${longest}/resume`)).json()).toMatchObject({ id: longest, paused: false });
    const triggered = await call('POST', `/${longest}/trigger`);
    expect(triggered.statusCode).toBe(202);
    const runId: string = triggered.json().id;
    expect(runId.length).toBeGreaterThan(MAX_SCHEDULE_ID_LENGTH + 13);
    const run = await web().app.inject({ method: 'GET', url: `/api/jobs/ping/runs/${runId}`, headers: withToken });
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ id: runId, scheduleId: longest, manual: true });
    expect((await call('DELETE', `/${longest}`)).statusCode).toBe(204);
  });

  it.each([
    ['PUT', ''],
    ['GET', ''],
    ['DELETE', ''],
    ['POST', '/pause'],
    ['POST', '/resume'],
    ['POST', '/trigger'],
  ] as const)(`%s /api/schedules/<id>%s refuses an id past ${MAX_SCHEDULE_ID_LENGTH} characters or outside the alphabet with 400 naming the id rule, and writes nothing`, async (method, action) => {
    const before = await snapshotKeyspace(web().app.redis, web().queues.prefix);
    for (const id of [`${longest}x`, 'x'.repeat(1024), 'team@berlin', 'caf%C3%A9']) {
      const response = await call(method, `/${id}${action}`, method === 'PUT' ? { job: 'ping', every: '1h' } : undefined);
      expect(response.statusCode, id).toBe(400);
      expect(response.json().issues, id).toEqual([{ path: 'id', message: `must be ${SCHEDULE_ID_RULE}` }]);
    }
    // A lone surrogate cannot even be spelt in a URL: its UTF-8 is invalid, and Fastify refuses the path.
    expect((await call(method, `/a%ED%A0%80${action}`)).statusCode).toBe(400);
    expect(keyspaceChanges(before, await snapshotKeyspace(web().app.redis, web().queues.prefix))).toEqual([]);
  });
});

describe('DELETE /api/schedules/:id', () => {
  it('answers 404 for an unknown id and writes nothing, not even the flag for the leader', async () => {
    const before = await snapshotKeyspace(web().app.redis, web().queues.prefix);
    const response = await call('DELETE', '/never-was');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_UNKNOWN_SCHEDULE' });
    expect(await web().app.redis.sismember(store().keys.schedulesChanged, 'never-was')).toBe(0);
    expect(keyspaceChanges(before, await snapshotKeyspace(web().app.redis, web().queues.prefix))).toEqual([]);
  });

  it('deletes an API schedule with 204, after which it is 404', async () => {
    await call('PUT', '/short-lived', { job: 'ping', every: '5m' });
    const response = await call('DELETE', '/short-lived');
    expect(response.statusCode).toBe(204);
    expect((await call('GET', '/short-lived')).statusCode).toBe(404);
    expect((await call('DELETE', '/short-lived')).statusCode).toBe(404);
  });
});

describe('POST /api/schedules/:id/pause and /resume', () => {
  it('pauses a code schedule (no next runs) and resumes it (next runs again)', async () => {
    const paused = await call('POST', '/cleanup-sessions/pause');
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ id: 'cleanup-sessions', paused: true, nextRuns: [] });
    expect(await store().isPaused('cleanup-sessions')).toBe(true);
    expect((await call('GET', '')).json().schedules.find((s: { id: string }) => s.id === 'cleanup-sessions').paused).toBe(true);

    const resumed = await call('POST', '/cleanup-sessions/resume');
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({ paused: false, nextRuns: expect.arrayContaining([expect.any(String)]) });
    expect(await store().isPaused('cleanup-sessions')).toBe(false);
  });

  it('answers 404 for an unknown id', async () => {
    for (const action of ['pause', 'resume']) expect((await call('POST', `/no-such-schedule/${action}`)).statusCode).toBe(404);
  });
});

describe('POST /api/schedules/:id/trigger', () => {
  it("enqueues a manual run with the schedule's data, answering 202 with its id", async () => {
    const response = await call('POST', '/daily-report-team/trigger');
    expect(response.statusCode).toBe(202);
    const { id, name, queue } = response.json();
    expect({ name, queue }).toEqual({ name: 'daily-report', queue: 'reports' });
    expect(parseScheduledRunId(id)).toMatchObject({ scheduleId: 'daily-report-team', manual: true });
    const run = await web().queueOf('daily-report').getJob(id);
    expect(run?.data).toEqual({ recipients: ['team@example.com'] });
    expect(await run?.getState()).toBe('waiting');
  });

  it('answers 404 for an unknown id, and enqueues nothing', async () => {
    const before = await web().totalRuns();
    expect((await call('POST', '/no-such-schedule/trigger')).statusCode).toBe(404);
    expect(await web().totalRuns()).toBe(before);
  });
});

describe('credentials', () => {
  it.each([
    ['GET', ''],
    ['GET', '/daily-report-team'],
    ['PUT', '/sneaky'],
    ['DELETE', '/ping-hourly'],
    ['POST', '/daily-report-team/pause'],
    ['POST', '/daily-report-team/resume'],
    ['POST', '/daily-report-team/trigger'],
  ] as const)('%s /api/schedules%s answers 401 without the token and changes nothing', async (method, url) => {
    const before = await web().totalRuns();
    const response = await call(method, url, method === 'PUT' ? { job: 'ping', every: '1m' } : undefined, {});
    expect(response.statusCode).toBe(401);
    expect(await store().get('sneaky')).toBeUndefined();
    expect(await store().isPaused('daily-report-team')).toBe(false);
    expect(await store().get('ping-hourly')).toBeDefined();
    expect(await web().totalRuns()).toBe(before);
  });
});

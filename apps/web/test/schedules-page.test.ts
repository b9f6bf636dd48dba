import { codeScheduleRecords, ScheduleStore } from '@drumline/core/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { webForThisFile, withDashboardLogin, withToken } from './web-harness.js';

const web = webForThisFile('web-schedules-page');
const fromPage = { ...withDashboardLogin, 'x-drumline-page': 'schedules' };

function store() {
  return new ScheduleStore(web().app.redis, web().queues.prefix);
}

function page(headers: Record<string, string> = withDashboardLogin) {
  return web().app.inject({ method: 'GET', url: '/admin/schedules', headers });
}

function act(id: string, action: 'pause' | 'resume' | 'trigger', headers: Record<string, string> = fromPage) {
  return web().app.inject({ method: 'POST', url: `/admin/schedules/${id}/${action}`, headers });
}

beforeAll(async () => {
  for (const record of codeScheduleRecords(web().queues.registry)) await web().app.redis.hset(store().keys.schedules, record.id, JSON.stringify(record));
});

describe('GET /admin/schedules', () => {
  it('lists every schedule with its timing, next runs and state, and links to the dashboard', async () => {
    const response = await page();
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    const body = response.body;
    for (const id of ['cleanup-sessions', 'daily-report-team', 'expire-coupons-nightly']) expect(body).toContain(`data-schedule="${id}"`);
    expect(body).toContain('cron 30 9 * * 1-5 (Europe/Berlin)');
    expect(body).toContain('every 30 min');
    expect(body.match(/<ol class="next">/g)).toHaveLength(3);
    expect(body).toContain('href="/admin/queues"');
  });

  it('shows the last run with its state, lateness and a link to it in the dashboard', async () => {
    const scheduledFor = Date.UTC(2026, 0, 5, 8, 30);
    const runId = `daily-report-team@${scheduledFor}`;
    await store().recordRun('daily-report-team', { runId, scheduledFor, startedAt: scheduledFor + 2500, finishedAt: scheduledFor + 3000, state: 'failed' });
    const { body } = await page();
    expect(body).toContain('<span class="state state-failed">failed</span>');
    expect(body).toContain('2.5 s late');
    expect(body).toContain(`href="/admin/queues/queue/reports/${encodeURIComponent(runId)}"`);
  });

  it("shows a retried last run as late as its first attempt, and which attempt it is on", async () => {
    const scheduledFor = Date.UTC(2026, 0, 7, 8, 30);
    const runId = `daily-report-team@${scheduledFor}`;
    await store().recordRun('daily-report-team', { runId, scheduledFor, startedAt: scheduledFor + 12, finishedAt: scheduledFor + 1200, state: 'failed', attempt: 3 });
    const { body } = await page();
    expect(body).toContain('12 ms late, attempt 3');
  });

  it("flags a schedule the dead-man's switch marked overdue, naming the tick whose run never started", async () => {
    const tick = Date.UTC(2026, 0, 6, 18);
    await web().app.redis.hset(store().keys.overdue, 'expire-coupons-nightly', JSON.stringify({ tick, since: tick + 60_000 }));
    const { body } = await page();
    const row = body.slice(body.indexOf('data-schedule="expire-coupons-nightly"'), body.indexOf('</tr>', body.indexOf('data-schedule="expire-coupons-nightly"')));
    expect(row).toContain('<span class="state state-overdue">overdue</span>');
    expect(row).toContain('2026-01-06 18:00:00 UTC');
    await web().app.redis.hdel(store().keys.overdue, 'expire-coupons-nightly');
    expect((await page()).body).not.toContain('state-overdue');
  });

  it("shows the flow limits of a schedule's job, and none for a job without", async () => {
    const put = await web().app.inject({ method: 'PUT', url: '/api/schedules/tenant-sync-nightly', headers: withToken, payload: { job: 'sync-tenant', cron: '0 2 * * *', data: { tenantId: 'acme' } } });
    expect(put.statusCode).toBe(201);
    const row = page().then((response) => /<tr data-schedule="tenant-sync-nightly"[\s\S]*?<\/tr>/.exec(response.body)?.[0] ?? '');
    expect(await row).toContain('sync-tenant<br><span class="muted">at most 2 at once per key</span>');
    const unlimited = /<tr data-schedule="cleanup-sessions"[\s\S]*?<\/tr>/.exec((await page()).body)?.[0] ?? '';
    expect(unlimited).not.toContain('at most');
  });

  it('escapes text it did not write itself', async () => {
    const scheduledFor = Date.UTC(2026, 0, 5);
    await store().recordRun('expire-coupons-nightly', {
      runId: '"><script>alert(1)</script>',
      scheduledFor,
      startedAt: scheduledFor,
      finishedAt: null,
      state: 'skipped',
      reason: '<img src=x onerror=alert(2)>',
    });
    const { body } = await page();
    expect(body).not.toContain('<script>alert');
    expect(body).not.toContain('<img src=x');
    expect(body).toContain('&#60;img src=x onerror=alert(2)&#62;');
  });

  it('forbids inline scripts with its Content-Security-Policy and serves its script and stylesheet behind the same login', async () => {
    const response = await page();
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    for (const asset of ['page.js', 'page.css']) {
      expect((await web().app.inject({ method: 'GET', url: `/admin/schedules/${asset}`, headers: withDashboardLogin })).statusCode).toBe(200);
      expect((await web().app.inject({ method: 'GET', url: `/admin/schedules/${asset}` })).statusCode).toBe(401);
    }
  });

  it('answers 401 without the dashboard login, and with the API token instead of it', async () => {
    expect((await page({})).statusCode).toBe(401);
    expect((await page(withToken)).statusCode).toBe(401);
    expect((await page({ authorization: `Basic ${Buffer.from('operator:wrong-password-x').toString('base64')}` })).statusCode).toBe(401);
  });
});

describe('the page buttons: POST /admin/schedules/:id/{pause,resume,trigger}', () => {
  it('pause and resume a schedule, which the API then shows', async () => {
    const paused = await act('cleanup-sessions', 'pause');
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ id: 'cleanup-sessions', paused: true });
    const viaApi = await web().app.inject({ method: 'GET', url: '/api/schedules/cleanup-sessions', headers: withToken });
    expect(viaApi.json().paused).toBe(true);
    expect((await page()).body).toMatch(/data-schedule="cleanup-sessions" class="paused"[\s\S]*?data-action="resume"/);

    expect((await act('cleanup-sessions', 'resume')).json().paused).toBe(false);
    expect(await store().isPaused('cleanup-sessions')).toBe(false);
  });

  it("run now enqueues one run with the schedule's data", async () => {
    const response = await act('daily-report-team', 'trigger');
    expect(response.statusCode).toBe(202);
    const { id, queue } = response.json();
    expect(queue).toBe('reports');
    expect((await web().queueOf('daily-report').getJob(id))?.data).toEqual({ recipients: ['team@example.com'] });
  });

  it('refuses a request without the page header (a cross-site form) with 403, and changes nothing', async () => {
    const before = await web().totalRuns();
    for (const action of ['pause', 'trigger'] as const) {
      const response = await act('cleanup-sessions', action, withDashboardLogin);
      expect(response.statusCode).toBe(403);
      expect(response.json().message).toMatch(/x-drumline-page/);
    }
    expect(await store().isPaused('cleanup-sessions')).toBe(false);
    expect(await web().totalRuns()).toBe(before);
  });

  it('answers 401 without the dashboard login, even with the page header or the API token', async () => {
    const before = await web().totalRuns();
    expect((await act('cleanup-sessions', 'pause', { 'x-drumline-page': 'schedules' })).statusCode).toBe(401);
    expect((await act('daily-report-team', 'trigger', { ...withToken, 'x-drumline-page': 'schedules' })).statusCode).toBe(401);
    expect(await store().isPaused('cleanup-sessions')).toBe(false);
    expect(await web().totalRuns()).toBe(before);
  });

  it('answers 404 for an unknown schedule', async () => {
    for (const action of ['pause', 'resume', 'trigger'] as const) {
      const response = await act('no-such-schedule', action);
      expect(response.statusCode).toBe(404);
      expect(response.json().error).toBe('DRUMLINE_UNKNOWN_SCHEDULE');
    }
  });
});

describe('Bull Board', () => {
  it('links to the schedules page from its header menu', async () => {
    const { body } = await web().app.inject({ method: 'GET', url: '/admin/queues', headers: withDashboardLogin });
    expect(body).toContain('"miscLinks":[{"text":"Schedules","url":"/admin/schedules"}]');
  });
});

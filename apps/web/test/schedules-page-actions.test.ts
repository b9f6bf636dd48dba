import { apiScheduleRecord, ScheduleStore } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { PAGE_ACTION_HEADER } from '../src/routes/schedules-page.js';
import { webForThisFile, withDashboardLogin } from './web-harness.js';

const web = webForThisFile('web-page-actions');
const store = () => new ScheduleStore(web().app.redis, web().queues.prefix);
const fromPage = { ...withDashboardLogin, [PAGE_ACTION_HEADER]: 'schedules' };
const range = { from: '2026-11-30T00:00:00Z', to: '2026-11-30T02:00:00Z' };

async function hourly(id: string) {
  await store().putFromApi(apiScheduleRecord(web().queues.registry, id, { job: 'ping', cron: '0 * * * *', tz: 'Europe/Berlin' }));
}

describe('the schedules page’s backfill and cancel', () => {
  it('backfills from the page, with the same answer as the API', async () => {
    await hourly('page-backfill');
    const response = await web().app.inject({ method: 'POST', url: '/admin/schedules/page-backfill/backfill', headers: fromPage, payload: range });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ ticks: 3, enqueued: 3, skipped: 0 });
  });

  it('refuses both actions without the page’s header (CSRF) with 403, writing nothing', async () => {
    await hourly('page-guarded');
    const keys = async () => (await web().app.redis.keys(`${web().queues.prefix}:*`)).sort();
    const before = await keys();
    for (const action of ['backfill', 'cancel-run']) {
      const response = await web().app.inject({ method: 'POST', url: `/admin/schedules/page-guarded/${action}`, headers: withDashboardLogin, payload: range });
      expect(response.statusCode, action).toBe(403);
    }
    expect(await keys()).toEqual(before);
    expect((await web().queues.findRun('ping', `page-guarded@${Date.parse(range.from)}`)) ?? null).toBeNull();
  });

  it('answers 409 to a cancel when the schedule has no active run', async () => {
    await hourly('page-idle');
    const response = await web().app.inject({ method: 'POST', url: '/admin/schedules/page-idle/cancel-run', headers: fromPage });
    expect(response.statusCode).toBe(409);
  });

  it('shows a Cancel run button only for a schedule whose last run is active, and a backfill form for each', async () => {
    await hourly('page-running');
    const runId = `page-running@${Date.parse('2026-11-30T05:00:00Z')}`;
    await store().recordRun('page-running', { runId, scheduledFor: Date.parse('2026-11-30T05:00:00Z'), startedAt: Date.now(), finishedAt: null, state: 'active' });
    const page = await web().app.inject({ method: 'GET', url: '/admin/schedules?limit=500', headers: withDashboardLogin });
    const row = (id: string) => page.body.slice(page.body.indexOf(`data-schedule="${id}"`), page.body.indexOf('</tr>', page.body.indexOf(`data-schedule="${id}"`)));
    expect(row('page-running')).toContain('data-action="cancel-run"');
    expect(row('page-idle')).not.toContain('data-action="cancel-run"');
    expect(row('page-idle')).toContain('data-action="backfill"');
  });
});

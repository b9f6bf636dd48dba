import { apiScheduleRecord, ScheduleStore } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { webForThisFile, withDashboardLogin, withToken } from './web-harness.js';

const web = webForThisFile('web-schedule-pages');
const store = () => new ScheduleStore(web().app.redis, web().queues.prefix);
const list = (query = '') => web().app.inject({ method: 'GET', url: `/api/schedules${query}`, headers: withToken });

async function putSchedules(count: number, idOf: (index: number) => string) {
  for (let index = 0; index < count; index += 1) {
    await store().putFromApi(apiScheduleRecord(web().queues.registry, idOf(index), { job: 'ping', cron: `${index % 60} * * * *`, tz: 'Europe/Berlin' }));
  }
}

describe('GET /api/schedules pages', () => {
  it('walks every schedule once, in id order, page by page, with a cursor that survives deletes between pages', async () => {
    await putSchedules(23, (index) => `page-${String(index).padStart(2, '0')}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await list(`?limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.statusCode).toBe(200);
      const body = response.json() as { schedules: { id: string }[]; nextCursor: string | null };
      expect(body.schedules.length).toBeLessThanOrEqual(5);
      seen.push(...body.schedules.map((schedule) => schedule.id));
      // Deleting what was already listed does not shift the next page.
      if (pages === 0) await store().deleteFromApi('page-00');
      cursor = body.nextCursor;
      pages += 1;
    } while (cursor !== null);
    const pageIds = seen.filter((id) => id.startsWith('page-'));
    expect(pageIds).toEqual(Array.from({ length: 23 }, (_, index) => `page-${String(index).padStart(2, '0')}`));
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it.each([['0'], ['501'], ['ten']])('refuses limit=%s with 400 naming `limit`', async (limit) => {
    const response = await list(`?limit=${limit}`);
    expect(response.statusCode).toBe(400);
    expect(JSON.stringify(response.json())).toContain('limit');
  });

  it('lists a stored schedule it cannot show as broken, and every other schedule as usual; so does the page', async () => {
    const { redis } = web().app;
    await putSchedules(2, (index) => `fine-${index}`);
    // Written by an older version, or by hand: not JSON, and an `every` too long to print its next runs.
    await redis.hset(store().keys.schedules, 'fine-broken-json', '{not json');
    const huge = { ...apiScheduleRecord(web().queues.registry, 'fine-huge', { job: 'ping', every: '1h' }), timing: { kind: 'every', everyMs: 1e18 } };
    await redis.hset(store().keys.schedules, 'fine-huge', JSON.stringify(huge));

    const response = await list('?limit=500');
    expect(response.statusCode).toBe(200);
    const schedules = (response.json() as { schedules: { id: string; broken?: string; nextRuns?: string[] }[] }).schedules.filter((s) => s.id.startsWith('fine-'));
    expect(schedules.map((schedule) => [schedule.id, schedule.broken === undefined])).toEqual([
      ['fine-0', true],
      ['fine-1', true],
      ['fine-broken-json', false],
      ['fine-huge', false],
    ]);
    expect(schedules[0]?.nextRuns).toHaveLength(5);

    const page = await web().app.inject({ method: 'GET', url: '/admin/schedules?limit=500', headers: withDashboardLogin });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('data-schedule="fine-huge" class="broken"');
    expect(page.body).toContain('data-schedule="fine-0"');
  });
});

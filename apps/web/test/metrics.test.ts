import { apiScheduleRecord, ScheduleStore, type Overdue } from '@drumline/core/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sample } from '../../../tests/support/metrics.js';
import { uniquePrefix } from '../../../tests/support/redis.js';
import { deleteTestKeys, startWeb, withToken, type TestWeb } from './web-harness.js';

const METRICS_TOKEN = 'metrics-token-0123456789';
const prefix = uniquePrefix('web-metrics');
let web: TestWeb;

beforeAll(async () => {
  web = await startWeb({ prefix, env: { METRICS_TOKEN } });
});

afterAll(async () => {
  await web?.app.close();
  await deleteTestKeys(prefix);
});

async function metrics(): Promise<string> {
  const response = await web.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(response.statusCode).toBe(200);
  return response.body;
}

describe('GET /metrics on the web', () => {
  it('answers 401 without METRICS_TOKEN, also to a caller holding only the API token', async () => {
    expect((await web.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const withApiToken = await web.app.inject({ method: 'GET', url: '/metrics', headers: withToken });
    expect(withApiToken.statusCode).toBe(401);
    expect(withApiToken.json()).toMatchObject({ message: expect.stringContaining('METRICS_TOKEN') });
  });

  it('is not served at all when METRICS_TOKEN is unset', async () => {
    const bare = await startWeb({ prefix });
    try {
      expect((await bare.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode).toBe(404);
    } finally {
      await bare.app.close();
    }
  });

  it('counts the jobs of each queue by state, read from Redis at scrape time, beside the process metrics', async () => {
    await web.queues.enqueue('ping', {});
    await web.queues.enqueue('ping', {}, { priority: 3 });
    await web.queues.enqueue('ping', {}, { delay: 60_000 });
    const body = await metrics();
    expect(sample(body, 'drumline_queue_jobs', { queue: 'default', state: 'waiting' })).toBe(2);
    expect(sample(body, 'drumline_queue_jobs', { queue: 'default', state: 'delayed' })).toBe(1);
    expect(sample(body, 'drumline_queue_jobs', { queue: 'default', state: 'active' })).toBe(0);
    expect(sample(body, 'drumline_queue_jobs', { queue: 'email', state: 'failed' })).toBe(0);
    expect(sample(body, 'process_resident_memory_bytes', { app: 'web' })).toBeGreaterThan(0);
  });

  it('counts as backlog the waiting, prioritized and due delayed jobs of each queue, not those delayed into the future', async () => {
    const prefix = uniquePrefix('web-metrics-backlog');
    const own = await startWeb({ prefix, env: { METRICS_TOKEN } });
    try {
      await own.queues.enqueue('ping', {});
      await own.queues.enqueue('ping', {}, { priority: 3 });
      await own.queues.enqueue('ping', {}, { delay: 60_000 });
      await own.queues.enqueue('ping', {}, { delay: 1 });
      const queue = own.queueOf('ping');
      // No worker runs here, so nothing promotes the short delay: once due, it is still in `delayed`.
      const deadline = Date.now() + 5_000;
      let backlog: number | undefined;
      do {
        const response = await own.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        backlog = sample(response.body, 'drumline_queue_backlog', { queue: queue.name });
      } while (backlog !== 3 && Date.now() < deadline);
      expect(backlog).toBe(3);
      expect(await queue.getJobCounts('delayed')).toEqual({ delayed: 2 });
    } finally {
      await own.app.close();
      await deleteTestKeys(prefix);
    }
  });

  it("shows the dead-man's switch flag as drumline_schedule_overdue and in GET /api/schedules, never for a paused schedule", async () => {
    const store = new ScheduleStore(web.app.redis, prefix);
    for (const id of ['stuck', 'resting', 'fine']) await store.putFromApi(apiScheduleRecord(web.app.registry, id, { job: 'ping', every: '1m' }));
    await store.setPaused('resting', true);
    // As the leading scheduler's watcher writes them.
    const flag: Overdue = { tick: Date.UTC(2026, 0, 1, 12), since: Date.UTC(2026, 0, 1, 12, 1) };
    await web.app.redis.hset(store.keys.overdue, 'stuck', JSON.stringify(flag), 'resting', JSON.stringify(flag));

    const body = await metrics();
    expect(sample(body, 'drumline_schedule_overdue', { schedule: 'stuck' })).toBe(1);
    expect(sample(body, 'drumline_schedule_overdue', { schedule: 'resting' })).toBe(0);
    expect(sample(body, 'drumline_schedule_overdue', { schedule: 'fine' })).toBe(0);

    const response = await web.app.inject({ method: 'GET', url: '/api/schedules', headers: withToken });
    const overdue = Object.fromEntries((response.json() as { schedules: { id: string; overdue: unknown }[] }).schedules.map((s) => [s.id, s.overdue]));
    expect(overdue).toMatchObject({ stuck: { tick: '2026-01-01T12:00:00.000Z', since: '2026-01-01T12:01:00.000Z' }, resting: null, fine: null });
  });
});

import { scheduleFingerprint, ScheduleStore } from '@drumline/core/runtime';
import { expect } from 'vitest';
import { withToken, type TestWeb } from './web-harness.js';

/** Creates `id` through the API: the job `ping`, every minute. */
export async function putEveryMinute(web: TestWeb, id: string): Promise<void> {
  const response = await web.app.inject({ method: 'PUT', url: `/api/schedules/${id}`, headers: withToken, payload: { job: 'ping', every: '1m' } });
  expect(response.statusCode, response.body).toBe(201);
}

/** The leader's cursor, as its pass writes it: every tick up to `upTo` handled. */
export async function setCursor(web: TestWeb, id: string, upTo: number): Promise<void> {
  const store = new ScheduleStore(web.app.redis, web.queues.prefix);
  const record = await store.get(id);
  if (!record) throw new Error(`no schedule ${id}`);
  const cursor = { upTo, job: record.job, fingerprint: scheduleFingerprint(record), timing: record.timing, paused: false };
  await web.app.redis.hset(store.keys.cursors, id, JSON.stringify(cursor));
}

import { MAX_RUN_ID_LENGTH, RUN_ID_RULE, ScheduleStore, apiScheduleRecord } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { keyspaceChanges, snapshotKeyspace } from '../../../tests/support/keyspace.js';
import { runUntilFinished, webForThisFile, withToken } from './web-harness.js';

const web = webForThisFile('web-run-control');
const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
  web().app.inject({ method, url, headers: withToken, ...(payload ? { payload } : {}) });

/** Every key under the test's prefix with its contents, to show a refused request wrote nothing. */
const keyspace = () => snapshotKeyspace(web().app.redis, web().queues.prefix);

async function enqueue(data: object, jobId?: string): Promise<string> {
  const response = await call('POST', '/api/jobs/ping', { data, ...(jobId ? { opts: { jobId } } : {}) });
  expect(response.statusCode).toBeLessThan(300);
  return response.json().id as string;
}

describe('run control', () => {
  it('cancels a waiting run by removing it', async () => {
    const id = await enqueue({ note: 'waiting' });
    expect((await call('POST', `/api/jobs/ping/runs/${id}/cancel`)).json()).toEqual({ id, state: 'cancelled' });
    expect(await web().queues.findRun('ping', id)).toBeUndefined();
  });

  it('refuses to cancel, retry or delete what the run’s state does not allow, with 409, writing nothing', async () => {
    const done = await enqueue({ note: 'done' });
    await runUntilFinished(web(), 'default', done, async () => ({ ok: true }));
    const waiting = await enqueue({ note: 'still waiting' });
    const before = await keyspace();
    for (const [method, url] of [
      ['POST', `/api/jobs/ping/runs/${done}/cancel`],
      ['POST', `/api/jobs/ping/runs/${done}/retry`],
      ['POST', `/api/jobs/ping/runs/${waiting}/retry`],
      ['DELETE', `/api/jobs/ping/runs/${waiting}`],
    ] as const) {
      const response = await call(method, url);
      expect(response.statusCode, `${method} ${url}`).toBe(409);
      expect(response.json().error).toBe('DRUMLINE_RUN_STATE_CONFLICT');
    }
    expect(keyspaceChanges(before, await keyspace())).toEqual([]);
  });

  it('answers 404 for a run it does not know, on every route', async () => {
    for (const [method, url] of [
      ['POST', '/api/jobs/ping/runs/nope/cancel'],
      ['POST', '/api/jobs/ping/runs/nope/retry'],
      ['DELETE', '/api/jobs/ping/runs/nope'],
      ['GET', '/api/jobs/ping/runs/nope?wait=1s'],
    ] as const) {
      expect((await call(method, url)).statusCode, `${method} ${url}`).toBe(404);
    }
  });

  it('refuses an id no run can have with 400 naming the rule on every route, and takes one of the longest', async () => {
    const longest = `a${'x'.repeat(MAX_RUN_ID_LENGTH - 1)}`;
    await enqueue({ note: 'longest id' }, longest);
    for (const [method, url] of [
      ['POST', '/api/jobs/ping/runs/:id/cancel'],
      ['POST', '/api/jobs/ping/runs/:id/retry'],
      ['DELETE', '/api/jobs/ping/runs/:id'],
      ['GET', '/api/jobs/ping/runs/:id'],
    ] as const) {
      for (const bad of [`${longest}x`, 'user:42', 'a%ED%A0%80']) {
        const response = await call(method, url.replace(':id', bad));
        expect(response.statusCode, `${method} ${url} ${bad}`).toBe(400);
        if (!bad.includes('%')) expect(response.json().issues, `${method} ${url} ${bad}`).toEqual([{ path: 'id', message: `must be ${RUN_ID_RULE}` }]);
      }
      expect((await call(method, url.replace(':id', longest))).statusCode, `${method} ${url}`).not.toBe(400);
    }
  });

  it('deletes a finished run', async () => {
    const id = await enqueue({ note: 'to delete' });
    await runUntilFinished(web(), 'default', id, async () => ({ ok: true }));
    expect((await call('DELETE', `/api/jobs/ping/runs/${id}`)).statusCode).toBe(204);
    expect((await call('GET', `/api/jobs/ping/runs/${id}`)).statusCode).toBe(404);
  });

  it('answers a wait as soon as the run finishes, and with its state at the deadline otherwise', async () => {
    const id = await enqueue({ note: 'wait for me' });
    const waiting = call('GET', `/api/jobs/ping/runs/${id}?wait=30s`);
    await runUntilFinished(web(), 'default', id, async () => ({ answer: 42 }));
    expect((await waiting).json()).toMatchObject({ id, state: 'completed', returnValue: { answer: 42 } });

    const unfinished = await enqueue({ note: 'nobody runs me' });
    expect((await call('GET', `/api/jobs/ping/runs/${unfinished}?wait=200ms`)).json()).toMatchObject({ id: unfinished, state: 'waiting' });
  });

  it.each(['61s', '-1', 'soon', '2h'])('refuses wait=%s with 400 naming `wait`', async (wait) => {
    const id = await enqueue({ note: 'any' });
    const response = await call('GET', `/api/jobs/ping/runs/${id}?wait=${wait}`);
    expect(response.statusCode).toBe(400);
    expect(JSON.stringify(response.json())).toContain('wait');
  });
});

describe('POST /api/schedules/:id/backfill refuses', () => {
  const store = () => new ScheduleStore(web().app.redis, web().queues.prefix);

  it.each([
    ['a range of more than 1000 ticks', { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }, 400, 'to'],
    ['a range that ends in the future', { from: '2026-01-01T00:00:00Z', to: '2999-01-01T00:00:00Z' }, 400, 'to'],
    ['a range that ends before it starts', { from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 400, 'to'],
    ['a date without an offset', { from: '2026-01-01T00:00:00', to: '2026-01-02T00:00:00Z' }, 400, 'from'],
  ])('%s, naming the field and writing nothing', async (_what, range, status, field) => {
    await store().putFromApi(apiScheduleRecord(web().queues.registry, 'every-minute', { job: 'ping', cron: '* * * * *' }));
    const before = await keyspace();
    const response = await call('POST', '/api/schedules/every-minute/backfill', range);
    expect(response.statusCode).toBe(status);
    expect(JSON.stringify(response.json().issues)).toContain(field);
    expect(keyspaceChanges(before, await keyspace())).toEqual([]);
  });

  it('a paused schedule with 409, and an unknown one with 404', async () => {
    await store().putFromApi(apiScheduleRecord(web().queues.registry, 'paused-one', { job: 'ping', every: '1h' }));
    await store().setPaused('paused-one', true);
    const range = { from: '2026-01-01T00:00:00Z', to: '2026-01-01T05:00:00Z' };
    expect((await call('POST', '/api/schedules/paused-one/backfill', range)).statusCode).toBe(409);
    expect((await call('POST', '/api/schedules/no-such/backfill', range)).statusCode).toBe(404);
  });
});

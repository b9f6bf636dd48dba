import { beforeAll, describe, expect, it } from 'vitest';
import { keyspaceChanges, snapshotKeyspace } from '../../../tests/support/keyspace.js';
import { webForThisFile, withToken } from './web-harness.js';

// What the web does with a job's flow control: refuses a payload its key function cannot key,
// changing nothing, and shows the limits. The limits themselves are enforced by the workers
// (tests/e2e/flow-control.test.ts).
const web = webForThisFile('web-flow-control');

// Each BullMQ queue writes its meta key once connected: let that happen before the keyspace is compared.
beforeAll(async () => {
  const metaKeys = web().queues.all().map((queue) => queue.keys.meta as string);
  const deadline = Date.now() + 10_000;
  while ((await web().app.redis.exists(...metaKeys)) < metaKeys.length) {
    if (Date.now() > deadline) throw new Error('the queues did not write their meta keys within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

function post(url: string, payload: object) {
  return web().app.inject({ method: 'POST', url, headers: withToken, payload });
}

describe('a key function that fails on a payload', () => {
  it.each([
    ['throw', 'rateLimit.key threw: no key for this payload'],
    ['number', 'rateLimit.key returned number, not a string'],
    ['empty', 'rateLimit.key returned a string of 0 characters; a key has 1-256'],
  ])('answers 400 naming the job and the key for mode %s, and enqueues nothing', async (mode, message) => {
    const before = await snapshotKeyspace(web().app.redis, web().queues.prefix);
    const response = await post('/api/jobs/keyed-badly', { data: { mode } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: 'DRUMLINE_INVALID_FLOW_KEY',
      message: `job \`keyed-badly\`: ${message.replace('rateLimit.key ', 'rateLimit.key of data ')}`,
      issues: [{ path: 'data', message }],
    });
    expect(keyspaceChanges(before, await snapshotKeyspace(web().app.redis, web().queues.prefix))).toEqual([]);
  });

  it('refuses a bulk enqueue with one such item whole, naming the item, and adds none of the others', async () => {
    const before = await snapshotKeyspace(web().app.redis, web().queues.prefix);
    const response = await post('/api/jobs/keyed-badly/bulk', { items: [{ data: { mode: 'ok' } }, { data: { mode: 'ok' } }, { data: { mode: 'throw' } }] });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'DRUMLINE_INVALID_FLOW_KEY', issues: [{ path: 'items.2.data' }] });
    expect(keyspaceChanges(before, await snapshotKeyspace(web().app.redis, web().queues.prefix))).toEqual([]);
  });

  it('enqueues a payload it can key', async () => {
    expect((await post('/api/jobs/keyed-badly', { data: { mode: 'ok' } })).statusCode).toBe(202);
  });
});

describe('GET /api/jobs', () => {
  it("shows each job's flow control as declared, and none for a job without", async () => {
    const response = await web().app.inject({ method: 'GET', url: '/api/jobs', headers: withToken });
    const flows = Object.fromEntries((response.json() as { name: string; flow: object }[]).map((job) => [job.name, job.flow]));
    expect(flows).toMatchObject({
      'sync-tenant': { concurrency: { limit: 2, keyed: true } },
      'call-partner': { rateLimit: { max: 5, perMs: 1000, keyed: true } },
      'refresh-cache': { dedupe: { ttlMs: 60_000 } },
      'reindex-tenant': { debounce: { waitMs: 1000 } },
      ping: {},
    });
    expect(flows.ping).toEqual({});
  });
});

describe('dedupe and debounce', () => {
  it('answers a dedupe duplicate 200 with the first run, and a debounced enqueue 202 with the run carrying its data', async () => {
    const first = await post('/api/jobs/refresh-cache', { data: { tenantId: 'in-process', version: 1 } });
    const second = await post('/api/jobs/refresh-cache', { data: { tenantId: 'in-process', version: 2 } });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(200);
    expect(second.json()).toEqual({ id: first.json().id, name: 'refresh-cache', queue: 'flow', duplicate: true });
    // Another tenant is a key of its own.
    expect((await post('/api/jobs/refresh-cache', { data: { tenantId: 'another', version: 1 } })).json()).toMatchObject({ duplicate: false });

    const debounced = await post('/api/jobs/reindex-tenant', { data: { tenantId: 'in-process' } });
    expect(debounced.statusCode).toBe(202);
    expect(debounced.json()).toEqual({ id: expect.any(String), name: 'reindex-tenant', queue: 'flow', duplicate: false, debounce: { after: null } });
    const run = await web().queueOf('reindex-tenant').getJob(debounced.json().id);
    expect(await run?.getState()).toBe('delayed');
  });

  it('dedupes the items of one bulk enqueue that share a key, listing them as duplicates', async () => {
    const response = await post('/api/jobs/refresh-cache/bulk', { items: [{ data: { tenantId: 'bulk-a' } }, { data: { tenantId: 'bulk-a' } }, { data: { tenantId: 'bulk-b' } }] });
    expect(response.statusCode).toBe(202);
    const { ids, duplicates } = response.json() as { ids: string[]; duplicates: string[] };
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(duplicates).toEqual([ids[0]]);
  });
});

describe('a concurrency place taken at enqueue', () => {
  const slots = () => web().app.keys.flow('sync-tenant', 'concurrency', 'cancelled-tenant').slots;

  it('is taken by each run enqueued while nobody waits, and the run after the limit waits delayed', async () => {
    const runs = await Promise.all([1, 2].map(() => post('/api/jobs/sync-tenant', { data: { tenantId: 'full-tenant' } })));
    expect(runs.map((run) => run.statusCode)).toEqual([202, 202]);
    expect(await web().app.redis.zcard(web().app.keys.flow('sync-tenant', 'concurrency', 'full-tenant').slots)).toBe(2);
    const third = await post('/api/jobs/sync-tenant', { data: { tenantId: 'full-tenant' } });
    expect(await web().queueOf('sync-tenant').getJobState(third.json().id)).toBe('delayed');
  });

  it('is given back when its run is cancelled before it started, so the next run need not wait for it to lapse', async () => {
    const first = await post('/api/jobs/sync-tenant', { data: { tenantId: 'cancelled-tenant' } });
    await post('/api/jobs/sync-tenant', { data: { tenantId: 'cancelled-tenant' } });
    expect(await web().app.redis.zcard(slots())).toBe(2);
    const cancelled = await post(`/api/jobs/sync-tenant/runs/${first.json().id}/cancel`, {});
    expect(cancelled.json()).toMatchObject({ state: 'cancelled' });
    expect(await web().app.redis.zscore(slots(), first.json().id)).toBeNull();
    const next = await post('/api/jobs/sync-tenant', { data: { tenantId: 'cancelled-tenant' } });
    expect(await web().queueOf('sync-tenant').getJobState(next.json().id)).toBe('waiting');
  });
});

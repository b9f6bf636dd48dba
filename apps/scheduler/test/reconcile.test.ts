import { createLogger, defineJob } from '@drumline/core/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reconcileSchedules } from '../src/reconcile.js';
import { startScheduler } from './scheduler-harness.js';

const logger = createLogger({ app: 'test', level: 'silent' });
const report = (every: string, withNightly = true) =>
  defineJob({
    name: 'tick',
    schema: z.object({ n: z.number().default(0) }),
    handler: () => undefined,
    schedules: [
      { id: 'frequent', every },
      ...(withNightly ? [{ id: 'nightly', cron: '0 2 * * *', tz: 'Asia/Shanghai' }] : []),
    ],
  });

let current: Awaited<ReturnType<typeof startScheduler>> | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('reconciliation of code schedules', () => {
  it('creates code schedules, prunes one removed from code with its pending runs, and keeps api-owned ones', async () => {
    const s = (current = await startScheduler({ name: 'reconcile', jobs: [report('30m')] }));
    await s.elected;
    await s.putApiSchedule('from-api', { job: 'tick', every: '1h' });

    const first = await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });
    expect(first).toEqual({ added: ['frequent', 'nightly'], changed: [], removed: [], unchanged: 0 });
    await s.materializer.load();
    s.setNow(Date.parse('2026-03-01T17:59:55Z'));
    await s.materializer.pass();
    expect(await s.jobIds()).toContain(`nightly@${Date.parse('2026-03-01T18:00:00Z')}`);

    const next = await startScheduler({ name: 'reconcile', jobs: [report('10m', false)], prefix: s.prefix, redis: s.redis.duplicate() });
    await s.election.stop();
    await next.elected;
    const second = await reconcileSchedules({ registry: next.registry, store: next.store, election: next.election, logger });
    expect(second).toEqual({ added: [], changed: ['frequent'], removed: ['nightly'], unchanged: 0 });
    expect((await next.store.all()).map((r) => [r.id, r.owner]).sort()).toEqual([
      ['frequent', 'code'],
      ['from-api', 'api'],
    ]);
    await next.materializer.load();
    next.setNow(s.now());
    await next.materializer.pass();
    expect((await next.jobIds()).filter((id) => id.startsWith('nightly@'))).toEqual([]);
    await next.close({ keepKeys: true });
  });

  it('changes nothing when the code is unchanged, and keeps a paused code schedule paused', async () => {
    const s = (current = await startScheduler({ name: 'reconcile-same', jobs: [report('30m')] }));
    await s.elected;
    await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });
    await s.store.setPaused('nightly', true);
    const again = await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });

    expect(again).toEqual({ added: [], changed: [], removed: [], unchanged: 2 });
    expect(await s.store.isPaused('nightly')).toBe(true);
  });

  it('takes over an api-owned schedule whose id the code now declares, as changed and owned by code', async () => {
    const s = (current = await startScheduler({ name: 'reconcile-takeover', jobs: [report('30m', false)] }));
    await s.elected;
    await s.putApiSchedule('frequent', { job: 'tick', every: '1h' });
    const diff = await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });
    expect(diff).toEqual({ added: [], changed: ['frequent'], removed: [], unchanged: 0 });
    expect(await s.store.get('frequent')).toMatchObject({ owner: 'code', timing: { kind: 'every', everyMs: 30 * 60_000 } });
  });

  it('prunes a schedule the code dropped even when nothing else changed', async () => {
    const s = (current = await startScheduler({ name: 'reconcile-prune', jobs: [report('30m')] }));
    await s.elected;
    await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });
    const next = await startScheduler({ name: 'reconcile-prune', jobs: [report('30m', false)], prefix: s.prefix, redis: s.redis.duplicate() });
    await s.election.stop();
    await next.elected;
    expect(await reconcileSchedules({ registry: next.registry, store: next.store, election: next.election, logger })).toEqual({ added: [], changed: [], removed: ['nightly'], unchanged: 1 });
    expect((await next.store.all()).map((record) => record.id)).toEqual(['frequent']);
    await next.close({ keepKeys: true });
  });

  it('prunes a code schedule stored before the code-owned index existed, and indexes the rest', async () => {
    const s = (current = await startScheduler({ name: 'reconcile-unindexed', jobs: [report('30m')] }));
    await s.elected;
    await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });
    // As an older release left Redis: the code schedules, and no index of them.
    await s.redis.del(s.store.keys.schedulesCode);
    const next = await startScheduler({ name: 'reconcile-unindexed', jobs: [report('30m', false)], prefix: s.prefix, redis: s.redis.duplicate() });
    await s.election.stop();
    await next.elected;
    expect(await reconcileSchedules({ registry: next.registry, store: next.store, election: next.election, logger })).toEqual({ added: [], changed: [], removed: ['nightly'], unchanged: 1 });
    expect((await next.store.all()).map((record) => record.id)).toEqual(['frequent']);
    expect((await next.redis.smembers(next.store.keys.schedulesCode)).sort()).toEqual(['', 'frequent']);
    await next.close({ keepKeys: true });
  });

  it('writes nothing and answers undefined once another scheduler holds the lease', async () => {
    const s = (current = await startScheduler({ name: 'reconcile-lost', jobs: [report('30m')] }));
    await s.elected;
    await s.redis.set(`${s.prefix}:drumline:leader`, 'someone-else');
    expect(await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger })).toBeUndefined();
    expect(await s.store.all()).toEqual([]);
  });

  it('refuses an API change to a code-owned schedule', async () => {
    const s = (current = await startScheduler({ name: 'reconcile-409', jobs: [report('30m')] }));
    await s.elected;
    await reconcileSchedules({ registry: s.registry, store: s.store, election: s.election, logger });
    await expect(s.putApiSchedule('nightly', { job: 'tick', every: '1h' })).rejects.toMatchObject({ code: 'DRUMLINE_CODE_OWNED_SCHEDULE' });
    await expect(s.store.deleteFromApi('nightly')).rejects.toMatchObject({ code: 'DRUMLINE_CODE_OWNED_SCHEDULE' });
  });
});

describe('leader election', () => {
  it('elects exactly one of two schedulers, and the standby leads once the leader steps down', async () => {
    const a = (current = await startScheduler({ name: 'election' }));
    await a.elected;
    const b = await startScheduler({ name: 'election', prefix: a.prefix, redis: a.redis.duplicate() });
    const seenB = b.elected.then(() => true);
    expect(a.election.isLeader).toBe(true);
    expect(b.election.isLeader).toBe(false);
    await a.election.stop();
    expect(await seenB).toBe(true);
    expect(b.election.isLeader).toBe(true);
    await b.close({ keepKeys: true });
  });
});

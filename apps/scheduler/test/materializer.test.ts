import { defineJob, scheduledRunId } from '@drumline/core/runtime';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { Promoter } from '../src/promoter.js';
import { startScheduler, tick } from './scheduler-harness.js';

const SECOND = 1000;
// A whole minute in the past as "now", so epoch-aligned grids are easy to state.
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;

let current: Awaited<ReturnType<typeof startScheduler>> | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function leader(lookaheadMs = 10 * SECOND) {
  current = await startScheduler({ name: 'materializer', lookaheadMs });
  await current.elected;
  current.setNow(T0);
  return current;
}

describe('materializer', () => {
  it('adds each tick of the lookahead window once, as a delayed job named <schedule>@<tick>', async () => {
    const s = await leader();
    await s.putApiSchedule('every-2s', { job: 'tick', every: '2s', data: { n: 1 } });
    await s.materializer.load();
    const first = await s.materializer.pass();
    const second = await s.materializer.pass();

    expect(first.added).toBe(5);
    expect(second.added).toBe(0);
    const expected = [2, 4, 6, 8, 10].map((seconds) => scheduledRunId('every-2s', T0 + seconds * SECOND));
    expect((await s.jobIds()).sort()).toEqual(expected.sort());
    const job = await s.queues.all()[0]!.getJob(expected[0]!);
    expect(job?.data).toEqual({ n: 1 });
  });

  it('tops up the window as time moves on, without re-adding ticks already added', async () => {
    const s = await leader();
    await s.putApiSchedule('every-2s', { job: 'tick', every: '2s' });
    await s.materializer.load();
    await s.materializer.pass();
    s.setNow(T0 + 4 * SECOND);
    const later = await s.materializer.pass();

    expect(later.added).toBe(2);
    expect(new Set(await s.jobIds()).size).toBe(7);
  });

  it('withdraws pending runs when a schedule is paused, adds none while paused, and resumes from now without catching up', async () => {
    const s = await leader();
    await s.putApiSchedule('every-1s', { job: 'tick', every: '1s' });
    await s.materializer.load();
    await s.materializer.pass();
    expect((await s.jobIds()).length).toBe(10);

    await s.store.setPaused('every-1s', true);
    const paused = await s.materializer.pass();
    expect(paused.withdrawn).toBe(10);
    expect(await s.jobIds()).toEqual([]);

    s.setNow(T0 + 60 * SECOND);
    await s.materializer.pass();
    expect(await s.jobIds()).toEqual([]);

    await s.store.setPaused('every-1s', false);
    const resumed = await s.materializer.pass();
    expect(resumed.missed).toBe(0);
    expect((await s.jobIds()).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => scheduledRunId('every-1s', T0 + (61 + i) * SECOND)).sort(),
    );
  });

  it('replaces pending runs when a schedule is changed through the API', async () => {
    const s = await leader();
    await s.putApiSchedule('changing', { job: 'tick', every: '5s' });
    await s.materializer.load();
    await s.materializer.pass();
    await s.putApiSchedule('changing', { job: 'tick', every: '2s' });
    const result = await s.materializer.pass();

    expect(result.withdrawn).toBe(2);
    expect((await s.jobIds()).sort()).toEqual([2, 4, 6, 8, 10].map((x) => scheduledRunId('changing', T0 + x * SECOND)).sort());
  });

  it('withdraws pending runs of a schedule deleted through the API, but not one a worker already holds', async () => {
    const s = await leader();
    await s.putApiSchedule('doomed', { job: 'tick', every: '1s' });
    await s.materializer.load();
    await s.materializer.pass();
    // A worker has taken the first run early, as it does once a run is promoted, and holds it until its tick.
    const queue = s.queues.all()[0]!;
    const held = scheduledRunId('doomed', T0 + SECOND);
    await (await queue.getJob(held))!.promote();
    const worker = new Worker(queue.name, null, { connection: s.redis.duplicate(), prefix: s.prefix, autorun: false });
    expect((await worker.getNextJob('holding-worker'))?.id).toBe(held);
    await s.store.deleteFromApi('doomed');
    const result = await s.materializer.pass();
    await worker.close(true);

    expect(result.withdrawn).toBe(9);
    expect(await s.jobIds()).toEqual([]);
    expect((await queue.getJobs(['active'])).map((job) => job.id)).toEqual([held]);
    expect((await s.store.cursors()).has('doomed')).toBe(false);
  });

  it('leaves the cursor of a schedule whose next tick is beyond the lookahead unwritten, and still fires that tick', async () => {
    const s = await leader();
    await s.putApiSchedule('every-minute', { job: 'tick', every: '1m' });
    await s.materializer.load();
    await s.materializer.pass();
    const stored = await s.redis.hget(s.store.keys.cursors, 'every-minute');
    expect(stored).not.toBeNull();

    // Not even the same value again: a pass with nothing due sends no write at all.
    const writes = vi.spyOn(s.election, 'writeHashFenced');
    for (const seconds of [5, 20, 45]) {
      s.setNow(T0 + seconds * SECOND);
      expect((await s.materializer.pass()).added).toBe(0);
    }
    expect(writes.mock.calls.filter(([, sets, deletes = []]) => sets.length > 0 || deletes.length > 0)).toEqual([]);
    expect(await s.redis.hget(s.store.keys.cursors, 'every-minute')).toBe(stored);

    s.setNow(T0 + 55 * SECOND);
    expect((await s.materializer.pass()).added).toBe(1);
    expect(await s.jobIds()).toEqual([scheduledRunId('every-minute', T0 + 60 * SECOND)]);
  });

  it('promotes on time the ticks a previous leader had already added, after taking over', async () => {
    const first = await startScheduler({ name: 'materializer-takeover', lookaheadMs: 3 * SECOND });
    await first.elected;
    first.setNow(T0);
    await first.putApiSchedule('every-1s', { job: 'tick', every: '1s' });
    await first.materializer.load();
    await first.materializer.pass();
    const added = [1, 2, 3].map((seconds) => scheduledRunId('every-1s', T0 + seconds * SECOND));
    expect((await first.jobIds()).sort()).toEqual(added.sort());

    // The first leader goes away with its promotion timers; no worker runs, so BullMQ promotes nothing itself.
    const next = (current = await startScheduler({ name: 'materializer-takeover', lookaheadMs: 3 * SECOND, prefix: first.prefix, redis: first.redis.duplicate() }));
    await first.close({ keepKeys: true });
    await next.elected;
    next.setNow(T0 + 500);
    await next.materializer.load();
    expect((await next.materializer.pass()).added).toBe(0);

    await expect.poll(async () => (await next.jobIds('waiting')).sort(), { timeout: 10_000, interval: 50 }).toEqual(added.sort());
  });

  it("moves a tick's run to wait once it is within promoteAheadMs of its tick, and leaves a later tick's run delayed", async () => {
    current = await startScheduler({ name: 'materializer-ahead', lookaheadMs: 40 * SECOND, promoteAheadMs: SECOND });
    await current.elected;
    // Half a second before a tick: that tick is within promoteAheadMs, the next one 30 s away is not.
    current.setNow(T0 + 29_500);
    await current.putApiSchedule('every-30s', { job: 'tick', every: '30s' });
    await current.materializer.load();
    expect((await current.materializer.pass()).added).toBe(2);
    const [soon, later] = [30, 60].map((seconds) => scheduledRunId('every-30s', T0 + seconds * SECOND));

    await expect.poll(async () => current!.jobIds('waiting'), { timeout: 10_000, interval: 20 }).toEqual([soon]);
    expect(await current.jobIds('delayed')).toEqual([later]);
  });

  it('once started, passes on its own every poll: a schedule put after start() gets its runs', async () => {
    const s = await leader();
    await s.materializer.load();
    s.materializer.start();
    await s.putApiSchedule('every-2s', { job: 'tick', every: '2s' });

    const expected = [2, 4, 6, 8, 10].map((seconds) => scheduledRunId('every-2s', T0 + seconds * SECOND));
    await expect.poll(async () => (await s.jobIds()).sort(), { timeout: 10_000, interval: 20 }).toEqual(expected.sort());
  });

  it('a new leader promotes none of the runs of a schedule paused or changed since the last pass', async () => {
    const options = { name: 'materializer-takeover-changed', lookaheadMs: 2 * SECOND, promoteAheadMs: 900 };
    const first = await startScheduler(options);
    await first.elected;
    first.setNow(T0);
    for (const id of ['steady', 'paused', 'changed']) await first.putApiSchedule(id, { job: 'tick', every: '1s' });
    await first.materializer.load();
    await first.materializer.pass();
    // No pass of the first leader sees these: the runs it added still belong to the old state.
    await first.store.setPaused('paused', true);
    await first.putApiSchedule('changed', { job: 'tick', every: '1s', data: { n: 2 } });

    const next = (current = await startScheduler({ ...options, prefix: first.prefix, redis: first.redis.duplicate() }));
    await first.close({ keepKeys: true });
    await next.elected;
    next.setNow(T0 + 500);
    await next.materializer.load();

    const runs = (id: string) => [1, 2].map((seconds) => scheduledRunId(id, T0 + seconds * SECOND));
    // Each tick's runs are promoted together: once the steady schedule's last run is waiting, every promotion load() armed has fired.
    await expect.poll(async () => (await next.jobIds('waiting')).includes(runs('steady')[1]!), { timeout: 10_000, interval: 20 }).toBe(true);
    expect((await next.jobIds('waiting')).sort()).toEqual(runs('steady').sort());
    expect((await next.jobIds('delayed')).sort()).toEqual([...runs('paused'), ...runs('changed')].sort());
  });

  it('a new leader takes over schedules whose job the code no longer defines, and deleting one does not fail its passes', async () => {
    const retired = defineJob({ name: 'retired', schema: z.object({}), handler: () => undefined });
    const first = await startScheduler({ name: 'materializer-retired', jobs: [tick, retired], lookaheadMs: 3 * SECOND });
    await first.elected;
    first.setNow(T0);
    for (const id of ['kept', 'deleted']) await first.putApiSchedule(id, { job: 'retired', every: '1s' });
    await first.materializer.load();
    await first.materializer.pass();
    await first.store.deleteFromApi('deleted');

    // The next release no longer defines `retired`; its schedules' cursors are still ahead of now.
    const next = (current = await startScheduler({ name: 'materializer-retired', jobs: [tick], lookaheadMs: 3 * SECOND, prefix: first.prefix, redis: first.redis.duplicate() }));
    await first.close({ keepKeys: true });
    await next.elected;
    next.setNow(T0 + 500);
    await next.putApiSchedule('current', { job: 'tick', every: '1s' });
    await next.materializer.load();

    expect((await next.materializer.pass()).added).toBe(3);
    expect([...(await next.store.cursors()).keys()].sort()).toEqual(['current', 'kept']);
  });

  it('resumed on a leader whose clock is behind the pause, adds no tick from before the pause', async () => {
    const first = await startScheduler({ name: 'materializer-skew', lookaheadMs: 5 * SECOND });
    await first.elected;
    first.setNow(T0);
    await first.putApiSchedule('every-1s', { job: 'tick', every: '1s' });
    await first.store.setPaused('every-1s', true);
    await first.materializer.load();
    await first.materializer.pass();

    // Its successor's clock is 3 s behind the first leader's.
    const next = (current = await startScheduler({ name: 'materializer-skew', lookaheadMs: 5 * SECOND, prefix: first.prefix, redis: first.redis.duplicate() }));
    await first.close({ keepKeys: true });
    await next.elected;
    next.setNow(T0 - 3 * SECOND);
    await next.materializer.load();
    await next.store.setPaused('every-1s', false);
    await next.materializer.pass();

    expect((await next.jobIds()).sort()).toEqual([1, 2].map((seconds) => scheduledRunId('every-1s', T0 + seconds * SECOND)).sort());
  });

  it('stop() returns once the pass in flight is done, and leaves none of the promotions that pass armed', async () => {
    // A second before each tick, with ticks each second from T0: the pass's first promotion is due 100 ms after it.
    const s = (current = await startScheduler({ name: 'materializer-stop', lookaheadMs: 3 * SECOND, promoteAheadMs: 900 }));
    await s.elected;
    s.setNow(T0);
    await s.putApiSchedule('every-1s', { job: 'tick', every: '1s' });
    await s.materializer.load();
    s.materializer.start();
    await s.materializer.stop();

    // The pass start() began had added its runs and written its cursor by the time stop() returned.
    const added = [1, 2, 3].map((seconds) => scheduledRunId('every-1s', T0 + seconds * SECOND));
    expect((await s.jobIds()).sort()).toEqual(added.sort());
    expect((await s.store.cursors()).get('every-1s')?.upTo).toBe(T0 + 3 * SECOND);
    // A witness promoted for the same tick by a promoter armed only now: once it is waiting, a
    // promotion the stopped materializer had left armed would have moved the first run too.
    const queue = s.queues.all()[0]!;
    await queue.add('tick', {}, { jobId: 'witness', delay: 60_000 });
    new Promoter(s.now, 900, () => undefined).promoteFor(T0 + SECOND, queue, 'witness');
    await expect.poll(() => queue.getJobState('witness'), { timeout: 10_000, interval: 20 }).toBe('waiting');
    expect(await s.jobIds('waiting')).toEqual(['witness']);
  });

  describe('the tick ledger', () => {
    const kinds = async (s: Awaited<ReturnType<typeof leader>>, id: string) =>
      (await s.ledger.read(id, { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1000, oldestFirst: true })).map(({ tick, events }) => [tick, events.map((event) => event.kind)]);

    it('records each tick it adds, by its term, and nothing more when a later pass adds nothing', async () => {
      const s = await leader();
      await s.putApiSchedule('every-5s', { job: 'tick', every: '5s' });
      await s.materializer.load();
      await s.materializer.pass();
      await s.materializer.pass();
      expect(await kinds(s, 'every-5s')).toEqual([
        [T0 + 5 * SECOND, ['materialized']],
        [T0 + 10 * SECOND, ['materialized']],
      ]);
      const [first] = await s.ledger.read('every-5s', { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 1, oldestFirst: true });
      expect(first?.events[0]).toEqual({ kind: 'materialized', at: T0, term: s.election.term, late: false });
    });

    it('records the ticks a downtime made it drop as missed, and the one it catches up as added late', async () => {
      const s = await leader(5 * SECOND);
      await s.putApiSchedule('every-10s', { job: 'tick', every: '10s', misfire: 'once' });
      await s.materializer.load();
      await s.materializer.pass();
      s.setNow(T0 + 66 * SECOND);
      await s.materializer.pass();
      const ticks = await s.ledger.read('every-10s', { from: T0 + 10 * SECOND, to: T0 + 60 * SECOND, limit: 100, oldestFirst: true });
      expect(ticks.map(({ tick, events }) => [tick, events.map((event) => (event.kind === 'materialized' ? `materialized${event.late ? ' late' : ''}` : event.kind))])).toEqual([
        [T0 + 10 * SECOND, ['missed']],
        [T0 + 20 * SECOND, ['missed']],
        [T0 + 30 * SECOND, ['missed']],
        [T0 + 40 * SECOND, ['missed']],
        [T0 + 50 * SECOND, ['missed']],
        [T0 + 60 * SECOND, ['materialized late']],
      ]);
    });

    it('records the runs it withdraws when a schedule is paused, with why', async () => {
      const s = await leader();
      await s.putApiSchedule('every-5s', { job: 'tick', every: '5s' });
      await s.materializer.load();
      await s.materializer.pass();
      await s.store.setPaused('every-5s', true);
      await s.materializer.pass();
      const ticks = await s.ledger.read('every-5s', { from: 0, to: Number.MAX_SAFE_INTEGER, limit: 10, oldestFirst: true });
      expect(ticks.map(({ events }) => events.map((event) => (event.kind === 'withdrawn' ? `withdrawn: ${event.why}` : event.kind)))).toEqual([
        ['materialized', 'withdrawn: paused'],
        ['materialized', 'withdrawn: paused'],
      ]);
    });
  });

  // 66 s, so that no tick is late by exactly the threshold: that boundary has a test of its own.
  describe('after a downtime of 66 s with a 10 s schedule', () => {
    async function afterDowntime(misfire: 'skip' | 'once' | 'all', extra: { misfireCap?: number; misfireGraceMs?: number } = {}) {
      const s = await leader(5 * SECOND);
      await s.putApiSchedule('every-10s', { job: 'tick', every: '10s', misfire, ...extra });
      await s.materializer.load();
      await s.materializer.pass();
      s.setNow(T0 + 66 * SECOND);
      const result = await s.materializer.pass();
      const ids = await s.jobIds('waiting');
      return { s, result, ids };
    }

    // The README: "A tick counts as missed when it is more than 5 s late".
    async function firstSeenLateBy(lateMs: number) {
      const s = await leader(5 * SECOND);
      await s.putApiSchedule('boundary', { job: 'tick', every: '10s', misfire: 'skip' });
      await s.materializer.load();
      await s.materializer.pass();
      s.setNow(T0 + 10 * SECOND + lateMs);
      return { result: await s.materializer.pass(), ids: await s.jobIds('waiting') };
    }

    it('`skip` still runs a tick first seen exactly 5 s late', async () => {
      const { result, ids } = await firstSeenLateBy(5_000);
      expect(result.missed).toBe(0);
      expect(ids).toEqual([scheduledRunId('boundary', T0 + 10 * SECOND)]);
    });

    it('`skip` drops a tick first seen 5 s and a millisecond late, as missed', async () => {
      const { result, ids } = await firstSeenLateBy(5_001);
      expect(result.missed).toBe(1);
      expect(ids).toEqual([]);
    });

    it('tells onMissed of the ticks a policy dropped, and nothing of a schedule that dropped none', async () => {
      const told: [string, number[]][] = [];
      current = await startScheduler({ name: 'materializer-missed', lookaheadMs: 5 * SECOND, onMissed: (schedule, ticks) => told.push([schedule.id, ticks]) });
      await current.elected;
      current.setNow(T0);
      await current.putApiSchedule('once', { job: 'tick', every: '10s', misfire: 'once' });
      await current.putApiSchedule('all', { job: 'tick', every: '10s', misfire: 'all' });
      await current.materializer.load();
      await current.materializer.pass();
      current.setNow(T0 + 66 * SECOND);
      await current.materializer.pass();

      expect(told).toEqual([['once', [10, 20, 30, 40, 50].map((seconds) => T0 + seconds * SECOND)]]);
    });

    it('after dropping the missed ticks with none left in the lookahead, fires the next tick once the lookahead reaches it', async () => {
      const s = await leader(5 * SECOND);
      await s.putApiSchedule('every-30s', { job: 'tick', every: '30s', misfire: 'skip' });
      await s.materializer.load();
      await s.materializer.pass();
      // The ticks at 30, 60 and 90 s are missed, and the next, at 120 s, is beyond the lookahead.
      s.setNow(T0 + 100 * SECOND);
      expect(await s.materializer.pass()).toEqual({ added: 0, missed: 3, withdrawn: 0 });

      s.setNow(T0 + 115 * SECOND);
      expect(await s.materializer.pass()).toEqual({ added: 1, missed: 0, withdrawn: 0 });
      expect(await s.jobIds()).toEqual([scheduledRunId('every-30s', T0 + 120 * SECOND)]);
    });

    it("`skip` runs none of the missed ticks and counts them as missed", async () => {
      const { result, ids } = await afterDowntime('skip');
      expect(ids).toEqual([]);
      expect(result.missed).toBe(6);
    });

    it('`once` runs only the newest missed tick', async () => {
      const { result, ids } = await afterDowntime('once');
      expect(ids).toEqual([scheduledRunId('every-10s', T0 + 60 * SECOND)]);
      expect(result.missed).toBe(5);
    });

    it('`all` runs each missed tick, up to the cap, newest first kept', async () => {
      const all = await afterDowntime('all');
      expect(all.ids.sort()).toEqual([10, 20, 30, 40, 50, 60].map((x) => scheduledRunId('every-10s', T0 + x * SECOND)).sort());
      await all.s.close();
      current = undefined;
      const capped = await afterDowntime('all', { misfireCap: 2 });
      expect(capped.ids.sort()).toEqual([50, 60].map((x) => scheduledRunId('every-10s', T0 + x * SECOND)).sort());
    });

    it('a grace window drops missed ticks older than it, whatever the policy', async () => {
      // 26 s of grace at T0 + 66 s: the tick at T0 + 40 s is exactly that old and kept, the one before is older.
      const { ids } = await afterDowntime('all', { misfireGraceMs: 26 * SECOND });
      expect(ids.sort()).toEqual([40, 50, 60].map((x) => scheduledRunId('every-10s', T0 + x * SECOND)).sort());
    });
  });

  it('adds nothing and writes no cursor while not leading', async () => {
    const s = await leader();
    await s.putApiSchedule('every-2s', { job: 'tick', every: '2s' });
    await s.materializer.load();
    await s.election.stop();
    expect(await s.materializer.pass()).toEqual({ added: 0, missed: 0, withdrawn: 0 });
    expect(await s.jobIds()).toEqual([]);
    expect((await s.store.cursors()).size).toBe(0);
  });

  it('adds at most 1000 ticks of a schedule in one pass, and the next pass carries on after the last', async () => {
    const s = await leader(1_500 * SECOND);
    await s.putApiSchedule('every-1s', { job: 'tick', every: '1s' });
    await s.materializer.load();
    expect((await s.materializer.pass()).added).toBe(1_000);
    expect(JSON.parse((await s.redis.hget(s.store.keys.cursors, 'every-1s')) as string).upTo).toBe(T0 + 1_000 * SECOND);
    expect((await s.materializer.pass()).added).toBe(500);
    const ids = await s.jobIds();
    expect(new Set(ids).size).toBe(1_500);
    expect(ids).toContain(scheduledRunId('every-1s', T0 + 1_500 * SECOND));
  });

  it('does not fire a stored schedule whose job the code no longer defines', async () => {
    const s = await leader();
    await s.redis.hset(s.store.keys.schedules, 'orphan', JSON.stringify({ id: 'orphan', job: 'gone', timing: { kind: 'every', everyMs: 1_000 }, data: {}, misfire: 'once', misfireCap: 100, misfireGraceMs: null, overlap: 'allow', owner: 'api' }));
    await s.materializer.load();
    expect((await s.materializer.pass()).added).toBe(0);
    expect(await s.jobIds()).toEqual([]);
  });

  it('a leader whose lease was taken has its cursor writes refused, stops leading, and counts its pass as adding nothing', async () => {
    const s = await leader();
    await s.putApiSchedule('every-1s', { job: 'tick', every: '1s' });
    await s.materializer.load();
    await s.redis.set(`${s.prefix}:drumline:leader`, 'someone-else');
    const demoted = new Promise<string>((resolve) => s.election.once('demoted', resolve));
    expect(await s.materializer.pass()).toEqual({ added: 0, missed: 0, withdrawn: 0 });

    expect(await demoted).toMatch(/another scheduler/);
    expect(s.election.isLeader).toBe(false);
    expect((await s.store.cursors()).has('every-1s')).toBe(false);
  });
});

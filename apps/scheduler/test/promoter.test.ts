import { Queue } from 'bullmq';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { connectTestRedis, deleteKeys, uniquePrefix } from '../../../tests/support/redis.js';
import { promoteAll, Promoter } from '../src/promoter.js';

const redis = connectTestRedis();
const prefix = uniquePrefix('promoter');
const queue = new Queue('default', { connection: redis, prefix });

afterAll(async () => {
  await queue.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

describe('promoteAll', () => {
  it('moves every given delayed job to wait, with its waiting event, skipping ids that are no longer delayed', async () => {
    await queue.addBulk(['a', 'b', 'c'].map((id) => ({ name: 'tick', data: {}, opts: { jobId: id, delay: 60_000 } })));
    await queue.add('tick', {}, { jobId: 'already-waiting' });

    await promoteAll(queue, ['a', 'gone', 'already-waiting', 'b']);

    expect((await queue.getJobs(['waiting'], 0, -1, true)).map((job) => job.id).sort()).toEqual(['a', 'already-waiting', 'b']);
    expect((await queue.getJobs(['delayed'], 0, -1, true)).map((job) => job.id)).toEqual(['c']);
    const events = await redis.xrange(`${prefix}:default:events`, '-', '+');
    const promoted = events.filter(([, fields]) => fields.includes('waiting') && fields.includes('delayed')).map(([, fields]) => fields[fields.indexOf('jobId') + 1]);
    expect(promoted.sort()).toEqual(['a', 'b']);
  });

  it("rejects with Redis's own error when the promote script fails, and leaves the queue as it was", async () => {
    const broken = new Queue('broken-delayed', { connection: redis, prefix });
    await broken.add('tick', {}, { jobId: 'x', delay: 60_000 });
    // A delayed set that is no sorted set: the script's ZSCORE answers WRONGTYPE.
    await redis.del(`${prefix}:broken-delayed:delayed`);
    await redis.set(`${prefix}:broken-delayed:delayed`, 'not a sorted set');
    await expect(promoteAll(broken, ['x'])).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.lrange(`${prefix}:broken-delayed:wait`, 0, -1)).toEqual([]);
    await broken.close();
  });
});

describe('Promoter', () => {
  // Its timers are faked, so the test moves time to the very millisecond; the clock it is given says when "now" is.
  afterEach(() => {
    vi.useRealTimers();
  });
  const AHEAD_MS = 300;
  const state = (id: string) => queue.getJobState(id);

  it('moves a delayed job to wait promoteAheadMs before its tick, and not a millisecond sooner', async () => {
    await queue.add('tick', {}, { jobId: 'promoted-ahead', delay: 60_000 });
    const tick = 1_000_000;
    const errors: unknown[] = [];
    const promoter = new Promoter(() => tick - 5_000, AHEAD_MS, (error) => errors.push(error));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    promoter.promoteFor(tick, queue, 'promoted-ahead');

    vi.advanceTimersByTime(5_000 - AHEAD_MS - 1);
    expect(promoter.pending).toBe(1);
    vi.advanceTimersByTime(1);
    expect(promoter.pending).toBe(0);
    vi.useRealTimers();
    await expect.poll(() => state('promoted-ahead'), { timeout: 10_000, interval: 10 }).toBe('waiting');
    expect(errors).toEqual([]);
  });

  it('promotes at once a job whose promotion time has passed', async () => {
    await queue.add('tick', {}, { jobId: 'promoted-late', delay: 60_000 });
    const promoter = new Promoter(() => 2_000_000, AHEAD_MS, () => undefined);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    promoter.promoteFor(2_000_000 - 10, queue, 'promoted-late');
    vi.advanceTimersByTime(0);
    expect(promoter.pending).toBe(0);
    vi.useRealTimers();
    await expect.poll(() => state('promoted-late'), { timeout: 10_000, interval: 10 }).toBe('waiting');
  });

  it('promotes the jobs of one tick together, each once however often it was asked for, and forgets them once stopped', async () => {
    await queue.addBulk(['together-a', 'together-b', 'stopped'].map((id) => ({ name: 'tick', data: {}, opts: { jobId: id, delay: 60_000 } })));
    const promoter = new Promoter(() => 0, AHEAD_MS, () => undefined);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    promoter.promoteFor(1_000, queue, 'together-a');
    promoter.promoteFor(1_000, queue, 'together-b');
    promoter.promoteFor(1_000, queue, 'together-a');
    promoter.promoteFor(2_000, queue, 'stopped');
    expect(promoter.pending).toBe(2);
    vi.advanceTimersByTime(1_000 - AHEAD_MS);
    expect(promoter.pending).toBe(1);
    promoter.stop();
    expect(promoter.pending).toBe(0);
    vi.advanceTimersByTime(10_000);
    vi.useRealTimers();
    await expect.poll(async () => [await state('together-a'), await state('together-b')], { timeout: 10_000, interval: 10 }).toEqual(['waiting', 'waiting']);
    expect(await state('stopped')).toBe('delayed');
  });

  it('reports a promotion that fails to its onError, and goes on', async () => {
    const connection = connectTestRedis();
    const closed = new Queue('unreachable', { connection, prefix });
    await closed.waitUntilReady();
    connection.disconnect();
    const errors: unknown[] = [];
    const promoter = new Promoter(() => 0, AHEAD_MS, (error) => errors.push(error));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    promoter.promoteFor(0, closed, 'anything');
    vi.advanceTimersByTime(0);
    vi.useRealTimers();
    await expect.poll(() => errors.length, { timeout: 10_000, interval: 10 }).toBe(1);
    expect(errors[0]).toBeInstanceOf(Error);
    await closed.close().catch(() => undefined);
  });
});

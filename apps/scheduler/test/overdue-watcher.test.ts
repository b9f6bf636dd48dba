import { AlertWebhook, createLogger, createMetricsRegistry, createSchedulerMetrics, LeaderElection, manualRunId, scheduledRunId, type Alert } from '@drumline/core/runtime';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebhookReceiver } from '../../../tests/support/webhook-receiver.js';
import { OverdueWatcher } from '../src/overdue-watcher.js';
import { startScheduler } from './scheduler-harness.js';

// The dead-man's switch against real Redis and a real leader election, with the clock driven by
// the test: no waiting for ticks to pass.
const OVERDUE_MS = 5_000;
const EVERY_MS = 10_000;
const logger = createLogger({ app: 'overdue-test', level: 'silent' });
let receiver: WebhookReceiver<Alert>;
let alerts: AlertWebhook;
let scheduler: Awaited<ReturnType<typeof startScheduler>>;

beforeAll(async () => {
  receiver = await WebhookReceiver.start<Alert>();
  alerts = new AlertWebhook({ url: receiver.url, publicUrl: 'http://jobs.example.com', logger });
  scheduler = await startScheduler({ name: 'overdue-watcher' });
  await scheduler.elected;
});

afterAll(async () => {
  await scheduler?.close();
  await receiver?.close();
});

function watcher(metricsRegistry: ReturnType<typeof createMetricsRegistry> | null = createMetricsRegistry('scheduler')) {
  const { redis, registry, store, election } = scheduler;
  const metrics = metricsRegistry ? { metrics: createSchedulerMetrics(metricsRegistry) } : {};
  return new OverdueWatcher({ redis, registry, store, election, logger, alerts, overdueMs: OVERDUE_MS, ...metrics, now: scheduler.now });
}

/** A whole number of EVERY_MS from now, plus `offset`: ticks fall at known times. */
function alignedNow(offset: number): number {
  return (Math.ceil(Date.now() / EVERY_MS) + 100) * EVERY_MS + offset;
}

/**
 * A watcher that has had a first look at the new schedules `ids` (one tick every EVERY_MS) at a
 * clock set to `t0`, one second past a whole EVERY_MS; `tick` is their first tick after that.
 */
async function watchingNew(ids: string[], metricsRegistry: Parameters<typeof watcher>[0] = createMetricsRegistry('scheduler')) {
  const watch = watcher(metricsRegistry);
  const t0 = alignedNow(1_000);
  scheduler.setNow(t0);
  for (const id of ids) await scheduler.putApiSchedule(id, { job: 'tick', every: EVERY_MS });
  await watch.check();
  return { watch, t0, tick: t0 - 1_000 + EVERY_MS };
}

/** The alerts the receiver got about `schedule`, once every alert sent so far has been delivered. */
async function alertsFor(schedule: string): Promise<Alert[]> {
  await alerts.flush();
  return receiver.received.filter((alert) => alert.schedule === schedule);
}

describe('OverdueWatcher', () => {
  it('flags a tick whose run has not started overdueMs after it, alerts once per outage, and clears when a run starts', async () => {
    const registry = createMetricsRegistry('scheduler');
    const watch = watcher(registry);
    const t0 = alignedNow(1_000);
    scheduler.setNow(t0);
    await scheduler.putApiSchedule('late', { job: 'tick', every: EVERY_MS });
    expect((await watch.check()).has('late')).toBe(false);

    const tick = t0 - 1_000 + EVERY_MS;
    scheduler.setNow(tick + OVERDUE_MS - 1);
    expect((await watch.check()).has('late')).toBe(false);
    scheduler.setNow(tick + OVERDUE_MS);
    expect((await watch.check()).get('late')).toEqual({ tick, since: tick + OVERDUE_MS });
    expect((await scheduler.store.overdue()).get('late')).toEqual({ tick, since: tick + OVERDUE_MS });

    // Later ticks pass unstarted too: still the same outage, flagged on its first tick, alerted once.
    scheduler.setNow(tick + 3 * EVERY_MS);
    expect((await watch.check()).get('late')?.tick).toBe(tick);
    const sent = await alertsFor('late');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      kind: 'schedule-overdue',
      job: 'tick',
      schedule: 'late',
      runId: scheduledRunId('late', tick),
      tick: new Date(tick).toISOString(),
      reason: `the run of the ${new Date(tick).toISOString()} tick had not started 5000 ms after it`,
      attempts: null,
      link: `http://jobs.example.com/admin/queues/queue/default/${encodeURIComponent(scheduledRunId('late', tick))}`,
    });
    expect(await registry.metrics()).toContain('drumline_schedule_overdue_total{schedule="late",app="scheduler"} 1');

    const latest = tick + 3 * EVERY_MS;
    await scheduler.store.recordRun('late', { runId: scheduledRunId('late', latest), scheduledFor: latest, startedAt: latest + 10, finishedAt: null, state: 'active' });
    expect((await watch.check()).has('late')).toBe(false);
    expect((await scheduler.store.overdue()).has('late')).toBe(false);
  });

  it('never flags a paused schedule, nor ticks from before it was created or resumed', async () => {
    const watch = watcher();
    const t0 = alignedNow(1_000);
    scheduler.setNow(t0);
    // Its ticks before t0 are long past overdueMs, but the schedule did not exist then.
    await scheduler.putApiSchedule('new', { job: 'tick', every: '1s' });
    await scheduler.putApiSchedule('resting', { job: 'tick', every: '1s' });
    await scheduler.store.setPaused('resting', true);
    const flagged = await watch.check();
    expect(flagged.has('new')).toBe(false);
    expect(flagged.has('resting')).toBe(false);

    scheduler.setNow(t0 + 60_000);
    expect((await watch.check()).has('resting')).toBe(false);
    await scheduler.store.setPaused('resting', false);
    expect((await watch.check()).has('resting')).toBe(false);
    scheduler.setNow(t0 + 60_000 + 1_000 + OVERDUE_MS);
    expect((await watch.check()).get('resting')?.tick).toBe(t0 + 61_000);
  });

  it('does not alert twice for the same overdue tick when another leader finds it again', async () => {
    const t0 = alignedNow(1_000);
    scheduler.setNow(t0);
    await scheduler.putApiSchedule('twice', { job: 'tick', every: EVERY_MS });
    await watcher().check();
    scheduler.setNow(t0 + EVERY_MS + OVERDUE_MS);
    expect((await watcher().check()).has('twice')).toBe(true);
    expect(await alertsFor('twice')).toHaveLength(1);

    // A successor that finds the tick unflagged (as if its predecessor died before writing the flag) flags it again but stays quiet.
    await scheduler.redis.hdel(scheduler.store.keys.overdue, 'twice');
    expect((await watcher().check()).has('twice')).toBe(true);
    expect(await alertsFor('twice')).toHaveLength(1);
  });

  it("is not cleared by a manual run: only a tick's own run ends the outage", async () => {
    const { watch, tick } = await watchingNew(['manual-only']);
    scheduler.setNow(tick + OVERDUE_MS + 2_000);
    await scheduler.store.recordRun('manual-only', { runId: manualRunId('manual-only', tick + OVERDUE_MS + 1_000), scheduledFor: tick + OVERDUE_MS + 1_000, startedAt: tick + OVERDUE_MS + 1_000, finishedAt: null, state: 'active' });
    expect((await watch.check()).get('manual-only')?.tick).toBe(tick);
  });

  it('never flags ticks a misfire policy dropped: they are reported as missed', async () => {
    const { watch, tick: first } = await watchingNew(['dropped']);
    watch.ticksMissed('dropped', first + EVERY_MS);
    watch.ticksMissed('dropped', first);
    scheduler.setNow(first + EVERY_MS + OVERDUE_MS);
    expect((await watch.check()).has('dropped')).toBe(false);
    // The tick after the dropped ones is watched as usual.
    scheduler.setNow(first + 2 * EVERY_MS + OVERDUE_MS);
    expect((await watch.check()).get('dropped')?.tick).toBe(first + 2 * EVERY_MS);
  });

  it('restarts the watch from now when a schedule changes, and clears a flag when it is paused or deleted', async () => {
    const { watch, tick } = await watchingNew(['changed', 'paused-later', 'deleted-later']);
    scheduler.setNow(tick + OVERDUE_MS);
    const flagged = await watch.check();
    expect(['changed', 'paused-later', 'deleted-later'].map((id) => flagged.has(id))).toEqual([true, true, true]);

    await scheduler.putApiSchedule('changed', { job: 'tick', every: EVERY_MS / 2 });
    await scheduler.store.setPaused('paused-later', true);
    await scheduler.store.deleteFromApi('deleted-later');
    const after = await watch.check();
    expect(['changed', 'paused-later', 'deleted-later'].map((id) => after.has(id))).toEqual([false, false, false]);
    const stored = await scheduler.store.overdue();
    expect(['changed', 'paused-later', 'deleted-later'].map((id) => stored.has(id))).toEqual([false, false, false]);
    expect(await scheduler.redis.hexists(scheduler.store.keys.overdueBaseline, 'deleted-later')).toBe(0);
    // The changed schedule's first tick after the change is overdue in its turn.
    const next = Math.floor((tick + OVERDUE_MS) / (EVERY_MS / 2)) * (EVERY_MS / 2) + EVERY_MS / 2;
    scheduler.setNow(next + OVERDUE_MS);
    expect((await watch.check()).get('changed')?.tick).toBe(next);
  });

  it('a run that finishes after a newer tick\'s run started does not move the watch back', async () => {
    const { watch, tick } = await watchingNew(['overtaken']);
    const next = tick + EVERY_MS;
    const run = (at: number, state: 'active' | 'completed', finishedAt: number | null) => ({ runId: scheduledRunId('overtaken', at), scheduledFor: at, startedAt: at + 10, finishedAt, state });
    await scheduler.store.recordRun('overtaken', run(tick, 'active', null));
    await scheduler.store.recordRun('overtaken', run(next, 'active', null));
    scheduler.setNow(next + 100);
    expect((await watch.check()).has('overtaken')).toBe(false);

    // The older run ends last, so the schedule's last run is the older tick's again.
    await scheduler.store.recordRun('overtaken', run(tick, 'completed', next + 200));
    scheduler.setNow(next + OVERDUE_MS + 1_000);
    expect((await watch.check()).has('overtaken')).toBe(false);
  });

  it('a new leader does not flag the ticks its predecessor was told a misfire policy dropped', async () => {
    const { watch, tick: first } = await watchingNew(['dropped-before-failover']);
    scheduler.setNow(first + EVERY_MS + OVERDUE_MS);
    watch.ticksMissed('dropped-before-failover', first + EVERY_MS);
    expect((await watch.check()).has('dropped-before-failover')).toBe(false);

    // The successor's watcher never heard of the dropped ticks: it reads how far the watch got from Redis.
    expect((await watcher().check()).has('dropped-before-failover')).toBe(false);
  });

  it('keeps a pause noticed in the very millisecond its watch began: resuming later restarts the watch', async () => {
    const { watch, tick } = await watchingNew(['flicker']);
    // Paused, and looked at again with the clock still at the instant of the first look.
    await scheduler.store.setPaused('flicker', true);
    await watch.check();
    await scheduler.store.setPaused('flicker', false);
    scheduler.setNow(tick + 3 * EVERY_MS);
    expect((await watch.check()).has('flicker')).toBe(false);
  });

  it('restarts the watch on a change noticed in the very millisecond the watch began, and expects the new timing\'s tick', async () => {
    const { watch, t0 } = await watchingNew(['reshaped']);
    await scheduler.putApiSchedule('reshaped', { job: 'tick', every: 3_000 });
    await watch.check();

    const firstOfNew = Math.floor(t0 / 3_000) * 3_000 + 3_000;
    scheduler.setNow(firstOfNew + OVERDUE_MS);
    expect((await watch.check()).get('reshaped')?.tick).toBe(firstOfNew);
  });

  it('flags and alerts with no metrics to count in', async () => {
    const { watch, tick } = await watchingNew(['uncounted'], null);
    scheduler.setNow(tick + OVERDUE_MS);
    expect((await watch.check()).get('uncounted')?.tick).toBe(tick);
    expect(await alertsFor('uncounted')).toHaveLength(1);
  });

  it('writes nothing to Redis when it looks again and nothing has changed', async () => {
    const { watch, tick } = await watchingNew(['unchanged']);
    scheduler.setNow(tick + OVERDUE_MS);
    await watch.check();
    const writes = vi.spyOn(scheduler.election, 'writeHashFenced');
    try {
      await watch.check();
      expect(writes.mock.calls.filter(([, sets, deletes = []]) => sets.length > 0 || deletes.length > 0)).toEqual([]);
    } finally {
      writes.mockRestore();
    }
  });

  it('once started, looks on its own', async () => {
    const { tick } = await watchingNew(['self-driven']);
    const watch = watcher();
    watch.start();
    try {
      scheduler.setNow(tick + OVERDUE_MS);
      await expect.poll(async () => (await scheduler.store.overdue()).get('self-driven')?.tick, { timeout: 10_000, interval: 50 }).toBe(tick);
    } finally {
      await watch.stop();
    }
  });

  it('stop() returns once the look in flight is done: its flag is written and its alert sent', async () => {
    const { tick } = await watchingNew(['last-look']);
    scheduler.setNow(tick + OVERDUE_MS);
    const watch = watcher();
    watch.start();
    await watch.stop();

    expect((await scheduler.store.overdue()).get('last-look')?.tick).toBe(tick);
    expect(await alertsFor('last-look')).toHaveLength(1);
  });

  it('counts each newly flagged tick once in drumline_schedule_overdue_total', async () => {
    const registry = createMetricsRegistry('scheduler');
    const { watch, tick } = await watchingNew(['counted'], registry);
    scheduler.setNow(tick + OVERDUE_MS);
    await watch.check();
    await watch.check();
    expect(await registry.metrics()).toContain('drumline_schedule_overdue_total{schedule="counted",app="scheduler"} 1');
  });

  it('does nothing while not leading: no flag, no write, no alert', async () => {
    const { redis, registry, store } = scheduler;
    const standby = new LeaderElection(redis, scheduler.prefix, { leaseTtlMs: 2000, logger });
    const watch = new OverdueWatcher({ redis, registry, store, election: standby, logger, alerts, overdueMs: OVERDUE_MS, now: scheduler.now });
    const t0 = alignedNow(1_000);
    scheduler.setNow(t0);
    await scheduler.putApiSchedule('unwatched', { job: 'tick', every: EVERY_MS });
    expect((await watch.check()).size).toBe(0);
    expect(await redis.hexists(store.keys.overdueBaseline, 'unwatched')).toBe(0);
  });

  it('reports no flag while not leading, even once the leader has flagged one', async () => {
    const { redis, registry, store } = scheduler;
    const { watch: leading, tick } = await watchingNew(['seen-by-leader']);
    scheduler.setNow(tick + OVERDUE_MS);
    expect((await leading.check()).has('seen-by-leader')).toBe(true);

    const standby = new LeaderElection(redis, scheduler.prefix, { leaseTtlMs: 2000, logger });
    const watch = new OverdueWatcher({ redis, registry, store, election: standby, logger, alerts, overdueMs: OVERDUE_MS, now: scheduler.now });
    expect((await watch.check()).size).toBe(0);
  });
});

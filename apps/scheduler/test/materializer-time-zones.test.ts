import { parseScheduledRunId, type ScheduleRecord } from '@drumline/core/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { PlainCron, referenceTicks } from '../../../packages/core/src/time/wall-clock-oracle.test-support.js';
import { startScheduler } from './scheduler-harness.js';

// The real Materializer on real Redis, driven by a clock the test moves across real DST and offset
// changes. What it adds is compared with the minute-by-minute reference walk of the zone's clock.
const MINUTE = 60_000;
const LOOKAHEAD = 15 * MINUTE;
const STEP = 5 * MINUTE;

type Scheduler = Awaited<ReturnType<typeof startScheduler>>;
const open: Scheduler[] = [];
afterEach(async () => {
  for (const scheduler of open.splice(0)) await scheduler.close();
});

async function leaderAt(startAt: number, prefix?: string): Promise<Scheduler> {
  const scheduler = await startScheduler({ name: 'materializer-zones', lookaheadMs: LOOKAHEAD, startAt, ...(prefix ? { prefix } : {}) });
  open.push(scheduler);
  await scheduler.elected;
  await scheduler.materializer.load();
  return scheduler;
}

/** Passes every STEP from `from` to `to` (the clock is the test's); returns how many runs the passes added. */
async function runPasses(scheduler: Scheduler, from: number, to: number): Promise<number> {
  let added = 0;
  for (let now = from; now <= to; now += STEP) {
    scheduler.setNow(now);
    added += (await scheduler.materializer.pass()).added;
  }
  return added;
}

async function addedTicks(scheduler: Scheduler, id: string): Promise<number[]> {
  const jobs = await scheduler.queues.all()[0]!.getJobs(['delayed', 'waiting', 'prioritized'], 0, -1, true);
  return jobs
    .map((job) => parseScheduledRunId(job.id as string))
    .filter((run) => run?.scheduleId === id)
    .map((run) => run!.scheduledFor.getTime())
    .sort((a, b) => a - b);
}

const iso = (ticks: number[]) => ticks.map((tick) => new Date(tick).toISOString());
const reference = (cron: string, tz: string, from: number, to: number) => referenceTicks(new PlainCron(cron), tz, from, to) as number[];

const cases = [
  { cron: '30 2 * * *', tz: 'Europe/Berlin', change: '2026-03-29T01:00:00Z', what: 'spring forward: 02:30 runs at 03:30' },
  { cron: '30 2 * * *', tz: 'Europe/Berlin', change: '2026-10-25T01:00:00Z', what: 'fall back: 02:30 runs once' },
  { cron: '*/20 * * * *', tz: 'America/New_York', change: '2026-11-01T06:00:00Z', what: 'fall back: a wildcard hour keeps its real pace' },
  { cron: '15 2 * * *', tz: 'Australia/Lord_Howe', change: '2026-10-03T15:30:00Z', what: 'a 30-minute spring forward' },
  { cron: '0 0 * * *', tz: 'America/Havana', change: '2026-03-08T05:00:00Z', what: 'midnight skipped' },
  { cron: '30 1 * * *', tz: 'Europe/Volgograd', change: '2020-12-26T22:00:00Z', what: 'a base offset change' },
];

describe('the materializer across real clock changes', () => {
  it.each(cases)('adds each tick once and no other, $tz $what', async ({ cron, tz, change }) => {
    const from = Date.parse(change) - 6 * 3_600_000;
    const to = Date.parse(change) + 30 * 3_600_000;
    const scheduler = await leaderAt(from);
    await scheduler.putApiSchedule('s', { job: 'tick', cron, tz });
    const added = await runPasses(scheduler, from, to);

    const expected = reference(cron, tz, from, to + LOOKAHEAD);
    expect(iso(await addedTicks(scheduler, 's'))).toEqual(iso(expected));
    expect(added).toBe(expected.length);
  });

  it('a failover in the middle of a repeated hour gives each tick once: the new leader resumes from the stored cursor', async () => {
    const [cron, tz] = ['*/15 * * * *', 'Europe/Berlin'];
    const change = Date.parse('2026-10-25T01:00:00Z');
    const [from, failover, to] = [change - 3 * 3_600_000, change + 20 * MINUTE, change + 3 * 3_600_000];
    const first = await leaderAt(from);
    await first.putApiSchedule('s', { job: 'tick', cron, tz });
    const addedBefore = await runPasses(first, from, failover);
    await first.close({ keepKeys: true });
    open.splice(open.indexOf(first), 1);

    const second = await leaderAt(failover + STEP, first.prefix);
    const addedAfter = await runPasses(second, failover + STEP, to);

    const expected = reference(cron, tz, from, to + LOOKAHEAD);
    expect(iso(await addedTicks(second, 's'))).toEqual(iso(expected));
    expect(addedBefore + addedAfter).toBe(expected.length);
  });

  it('a pause and resume inside the repeated hour runs that hour’s tick once', async () => {
    const [cron, tz] = ['30 2 * * *', 'Europe/Berlin'];
    // 00:30Z is 02:30 CEST, the first 02:30; pause at 02:45 CEST, resume at 02:15 CET (01:15Z), before the second 02:30.
    const [from, pauseAt, resumeAt, to] = ['2026-10-24T20:00:00Z', '2026-10-25T00:45:00Z', '2026-10-25T01:15:00Z', '2026-10-26T03:00:00Z'].map(Date.parse) as [number, number, number, number];
    const scheduler = await leaderAt(from);
    await scheduler.putApiSchedule('s', { job: 'tick', cron, tz });
    await runPasses(scheduler, from, pauseAt - STEP);
    await scheduler.store.setPaused('s', true);
    await runPasses(scheduler, pauseAt, resumeAt - STEP);
    await scheduler.store.setPaused('s', false);
    await runPasses(scheduler, resumeAt, to);

    expect(iso(await addedTicks(scheduler, 's'))).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });
});

describe('a schedule the time engine finds no next tick for', () => {
  const from = Date.parse('2026-12-01T00:00:00Z');

  /** A leader with a stored cron the engine cannot read (kept from before the checks refused crons that never fire) and a minutely one. */
  async function withNeverFiring(onStalled?: (schedule: ScheduleRecord) => void): Promise<Scheduler> {
    const scheduler = await startScheduler({ name: 'materializer-stall', lookaheadMs: LOOKAHEAD, startAt: from, ...(onStalled ? { onStalled } : {}) });
    open.push(scheduler);
    await scheduler.elected;
    await scheduler.store.putFromApi({
      id: 'never',
      job: 'tick',
      timing: { kind: 'cron', cron: '0 0 30 2 *', tz: 'UTC' },
      data: {},
      misfire: 'once',
      misfireCap: 100,
      misfireGraceMs: null,
      overlap: 'allow',
      owner: 'api',
    });
    await scheduler.putApiSchedule('minutely', { job: 'tick', cron: '* * * * *' });
    await scheduler.materializer.load();
    return scheduler;
  }

  it('is reported as stalled, once, while the other schedules keep firing', async () => {
    const stalled: string[] = [];
    const scheduler = await withNeverFiring((schedule) => stalled.push(schedule.id));
    await runPasses(scheduler, from, from + 3 * STEP);

    expect(stalled).toEqual(['never']);
    expect((await addedTicks(scheduler, 'minutely')).length).toBeGreaterThan(0);
  });

  it('lets the other schedules fire with no onStalled listener either', async () => {
    const scheduler = await withNeverFiring();
    await runPasses(scheduler, from, from + 3 * STEP);

    expect((await addedTicks(scheduler, 'minutely')).length).toBeGreaterThan(0);
  });

  it('is not a one-off `at` schedule whose tick has passed: it has simply run out of ticks', async () => {
    const stalled: string[] = [];
    const scheduler = await startScheduler({ name: 'materializer-at', lookaheadMs: LOOKAHEAD, startAt: from, onStalled: (schedule) => stalled.push(schedule.id) });
    open.push(scheduler);
    await scheduler.elected;
    await scheduler.putApiSchedule('launch', { job: 'tick', at: new Date(from + 2 * MINUTE).toISOString() });
    await scheduler.materializer.load();
    await runPasses(scheduler, from, from + LOOKAHEAD + 3 * STEP);

    expect(await addedTicks(scheduler, 'launch')).toEqual([from + 2 * MINUTE]);
    expect(stalled).toEqual([]);
  });
});

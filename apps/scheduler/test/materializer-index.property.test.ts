import { fc } from '@fast-check/vitest';
import { parseScheduledRunId, type ScheduleInput } from '@drumline/core/runtime';
import { describe, expect, it } from 'vitest';
import { PlainCron, referenceTicks } from '../../../packages/core/src/time/wall-clock-oracle.test-support.js';
import { startScheduler } from './scheduler-harness.js';

// The materializer visits only the schedules changed since its last pass and those its index of
// next ticks says are due. The oracle is the slow, obvious walk: each schedule's ticks over the
// intervals it was active (created or resumed, until paused, replaced or deleted), by brute force,
// against every run the real Materializer added to real Redis. CI runs a fixed seed;
// DRUMLINE_PROPERTY_RUNS (and DRUMLINE_PROPERTY_SEED) run more.
const RUNS = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 25);
const SEED = Number(process.env.DRUMLINE_PROPERTY_SEED ?? 20261202);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const LOOKAHEAD = MINUTE;
const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];

type Spec = { every: number } | { cron: string; tz: string };
const spec: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({ every: fc.constantFrom(7 * SECOND, 20 * SECOND, MINUTE, 5 * MINUTE) }),
  fc.record({ cron: fc.constantFrom('* * * * *', '*/5 * * * *', '0 * * * *', '30 2 * * *', '*/20 2 * * *'), tz: fc.constantFrom(...ZONES) }),
);
const step = fc.record({
  advanceMs: fc.integer({ min: 1, max: LOOKAHEAD }),
  id: fc.constantFrom(...IDS),
  change: fc.oneof(
    fc.constant('none' as const),
    fc.constant('pause' as const),
    fc.constant('resume' as const),
    fc.constant('delete' as const),
    // The leader stops and a new one loads from Redis what it left: cursors, and the next ticks they carry.
    fc.constant('failover' as const),
    spec,
  ),
});
// Around the spring-forward of 2027 in New York (14 March) and Berlin (28 March), and quiet days between.
const start = fc.integer({ min: Date.parse('2027-03-14T05:00:00Z') / MINUTE, max: Date.parse('2027-03-28T02:00:00Z') / MINUTE }).map((minute) => minute * MINUTE);

function ticksIn(of: Spec, from: number, to: number): number[] {
  if ('every' in of) {
    const ticks: number[] = [];
    for (let tick = Math.floor(from / of.every) * of.every + of.every; tick <= to; tick += of.every) ticks.push(tick);
    return ticks;
  }
  return referenceTicks(new PlainCron(of.cron), of.tz, from, to) as number[];
}

const inputOf = (of: Spec): ScheduleInput => ('every' in of ? { job: 'tick', every: of.every } : { job: 'tick', cron: of.cron, tz: of.tz });

interface Modelled {
  spec: Spec;
  paused: boolean;
  /** When its current active interval began (the pass that applied its creation or resumption). */
  activeFrom: number | undefined;
}

describe('the materializer with its index of next ticks', () => {
  it('adds every tick of every schedule while it is active, once, and none other, whatever is created, paused, resumed, replaced or deleted between passes, and through failovers', async () => {
    await fc.assert(
      fc.asyncProperty(start, fc.array(spec, { minLength: 1, maxLength: IDS.length }), fc.array(step, { maxLength: 20 }), async (t0, initial, steps) => {
        let scheduler = await startScheduler({ name: 'materializer-index', lookaheadMs: LOOKAHEAD, startAt: t0 });
        try {
          await scheduler.elected;
          const model = new Map<string, Modelled>();
          const expected = new Set<string>();
          const close = (id: string, entry: Modelled, at: number) => {
            if (entry.activeFrom !== undefined) for (const tick of ticksIn(entry.spec, entry.activeFrom, at)) expected.add(`${id}@${tick}`);
            entry.activeFrom = undefined;
          };
          for (const [index, of] of initial.entries()) {
            await scheduler.putApiSchedule(IDS[index] as string, inputOf(of));
            model.set(IDS[index] as string, { spec: of, paused: false, activeFrom: t0 });
          }
          await scheduler.materializer.load();
          await scheduler.materializer.pass();
          let now = t0;
          for (const { advanceMs, id, change } of steps) {
            now += advanceMs;
            scheduler.setNow(now);
            const entry = model.get(id);
            if (change === 'failover') {
              await scheduler.close({ keepKeys: true });
              scheduler = await startScheduler({ name: 'materializer-index', lookaheadMs: LOOKAHEAD, startAt: now, prefix: scheduler.prefix });
              await scheduler.elected;
              await scheduler.materializer.load();
            } else if (change === 'pause' && entry && !entry.paused) {
              await scheduler.store.setPaused(id, true);
              close(id, entry, now);
              entry.paused = true;
            } else if (change === 'resume' && entry?.paused) {
              await scheduler.store.setPaused(id, false);
              entry.paused = false;
              entry.activeFrom = now;
            } else if (change === 'delete' && entry) {
              await scheduler.store.deleteFromApi(id);
              close(id, entry, now);
              model.delete(id);
            } else if (typeof change === 'object') {
              await scheduler.putApiSchedule(id, inputOf(change));
              if (entry) close(id, entry, now);
              model.set(id, { spec: change, paused: entry?.paused ?? false, activeFrom: entry?.paused ? undefined : now });
            }
            await scheduler.materializer.pass();
          }
          for (const [id, entry] of model) close(id, entry, now + LOOKAHEAD);

          const jobs = await scheduler.queues.all()[0]!.getJobs(['delayed', 'waiting', 'prioritized'], 0, -1, true);
          const added = jobs.map((job) => job.id as string).filter((jobId) => parseScheduledRunId(jobId) !== undefined);
          expect(added.length).toBe(new Set(added).size);
          expect(new Set(added)).toEqual(expected);
        } finally {
          await scheduler.close();
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 120_000);
});

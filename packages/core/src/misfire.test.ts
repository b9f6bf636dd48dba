import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from './define-job.js';
import { createJobRegistry } from './job-registry.js';
import { isMisfiredRun, missedTicksToRun } from './misfire.js';
import { apiScheduleRecord, type ScheduleInput } from './schedule-record.js';

// The README's rule, stated here rather than imported: "A tick counts as missed when it is more
// than 5 s late"; `skip` drops missed ticks, `once` runs the newest, `all` runs each, at most
// `misfireCap`; `misfireGraceMs` drops missed ticks older than that, whatever the policy.
const README_MISSED_AFTER_MS = 5_000;
const isMissed = (tick: number, now: number) => now - tick > README_MISSED_AFTER_MS;

const EVERY_MS = 1_000;
const job = defineJob({ name: 'misfire-fixture', schema: z.object({}), handler: () => undefined });
const registry = createJobRegistry([job]);
const record = (policies: Omit<ScheduleInput, 'job' | 'every'>) => apiScheduleRecord(registry, 'fixture', { job: job.name, every: EVERY_MS, ...policies });

/** The oracle: does the late run of `tick` run when it is first seen at `now`, by the README's words? */
function readmeRuns(policies: { misfire: 'skip' | 'once' | 'all'; misfireCap?: number; misfireGraceMs?: number }, tick: number, now: number): boolean {
  if (!isMissed(tick, now)) return true;
  if (policies.misfireGraceMs !== undefined && now - tick > policies.misfireGraceMs) return false;
  // The schedule's missed ticks from this one on, one every EVERY_MS, oldest first.
  const missed: number[] = [];
  for (let t = tick; isMissed(t, now); t += EVERY_MS) missed.push(t);
  if (policies.misfire === 'skip') return false;
  if (policies.misfire === 'once') return missed[missed.length - 1] === tick;
  return missed.slice(-(policies.misfireCap ?? 100)).includes(tick);
}

describe('isMisfiredRun', () => {
  it('runs a tick late by exactly the threshold, and drops it under `skip` one millisecond later', () => {
    const skip = record({ misfire: 'skip' });
    const tick = 1_700_000_000_000;
    expect(isMisfiredRun(skip, tick, tick + README_MISSED_AFTER_MS)).toBe(false);
    expect(isMisfiredRun(skip, tick, tick + README_MISSED_AFTER_MS + 1)).toBe(true);
  });

  it('agrees with the README over every policy, cap and grace, for runs seen from on time to 10 s late', () => {
    const tick = 1_700_000_000_000;
    const cases = [
      { misfire: 'skip' as const },
      { misfire: 'once' as const },
      { misfire: 'all' as const },
      { misfire: 'all' as const, misfireCap: 1 },
      { misfire: 'all' as const, misfireCap: 3 },
      { misfire: 'once' as const, misfireGraceMs: 6_000 },
      { misfire: 'all' as const, misfireGraceMs: 7_500 },
    ];
    for (const policies of cases) {
      const schedule = record(policies);
      for (let late = 0; late <= 10_000; late += 250) {
        for (const now of [tick + late - 1, tick + late, tick + late + 1]) {
          expect({ policies, late: now - tick, runs: !isMisfiredRun(schedule, tick, now) }).toEqual({ policies, late: now - tick, runs: readmeRuns(policies, tick, now) });
        }
      }
    }
  });
});

describe('missedTicksToRun', () => {
  const missed = [10_000, 20_000, 30_000, 40_000];
  const now = 50_000;

  it('`skip` runs none, `once` the newest, `all` the newest misfireCap', () => {
    expect(missedTicksToRun(record({ misfire: 'skip' }), missed, now)).toEqual([]);
    expect(missedTicksToRun(record({ misfire: 'once' }), missed, now)).toEqual([40_000]);
    expect(missedTicksToRun(record({ misfire: 'all' }), missed, now)).toEqual(missed);
    expect(missedTicksToRun(record({ misfire: 'all', misfireCap: 2 }), missed, now)).toEqual([30_000, 40_000]);
  });

  it('drops ticks older than misfireGraceMs whatever the policy, keeping one exactly that old', () => {
    expect(missedTicksToRun(record({ misfire: 'all', misfireGraceMs: 20_000 }), missed, now)).toEqual([30_000, 40_000]);
    expect(missedTicksToRun(record({ misfire: 'once', misfireGraceMs: 5_000 }), missed, now)).toEqual([]);
    expect(missedTicksToRun(record({ misfire: 'once', misfireGraceMs: 0 }), [now], now)).toEqual([now]);
  });

  it('runs nothing when nothing was missed', () => {
    expect(missedTicksToRun(record({ misfire: 'all' }), [], now)).toEqual([]);
    expect(missedTicksToRun(record({ misfire: 'once' }), [], now)).toEqual([]);
  });
});

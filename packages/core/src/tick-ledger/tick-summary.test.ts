import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { TickEvent } from './tick-events.js';
import { summarizeTick } from './tick-summary.js';
import { propertyRuns as numRuns, propertySeed as seed, tickEventArbitrary } from './tick-event.arbitrary.js';

const TICK = 1_764_640_800_000;
const events = fc.array(tickEventArbitrary(TICK, fc.constantFrom('w1', 'w2', 'boom')), { maxLength: 10 });

describe('a tick\'s state', () => {
  test.prop([events.chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length })))], { numRuns, seed })(
    'depends on which events there are, not on the order they were stored in (writers on different machines race)',
    ([list, shuffled]) => {
      expect(summarizeTick({ tick: TICK, events: shuffled })).toEqual(summarizeTick({ tick: TICK, events: list }));
    },
  );

  test.prop([events, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 60_000 })], { numRuns, seed })(
    'is `ran` once an attempt completed, whatever else was recorded, and lateness is the first start minus when it was due',
    (list, attempt, lateMs) => {
      const withRun: TickEvent[] = [...list, { kind: 'started', at: TICK + lateMs, attempt, worker: 'w' }, { kind: 'completed', at: TICK + lateMs + 5, attempt, worker: 'w' }];
      const summary = summarizeTick({ tick: TICK, events: withRun });
      expect(summary.state).toBe('ran');
      const firstStart = Math.min(...withRun.filter((event) => event.kind === 'started').map((event) => event.at));
      expect(summary.latenessMs).toBe(firstStart - TICK);
    },
  );

  test.prop([fc.array(tickEventArbitrary(TICK).filter((event) => event.kind === 'materialized' || event.kind === 'duplicate'), { maxLength: 5 })], { numRuns, seed })(
    'is `pending` while it was only added (or a duplicate turned away): nothing decided it yet',
    (list) => {
      expect(summarizeTick({ tick: TICK, events: list }).state).toBe('pending');
    },
  );

  it('tells each ending apart', () => {
    const at = (ms: number) => TICK + ms;
    const added: TickEvent = { kind: 'materialized', at: at(-15_000), term: 3, late: false };
    const start = (attempt: number, ms: number): TickEvent => ({ kind: 'started', at: at(ms), attempt, worker: 'w' });
    const state = (...list: TickEvent[]) => summarizeTick({ tick: TICK, events: [added, ...list] }).state;
    expect(state(start(1, 10), { kind: 'failed', at: at(20), attempt: 1, worker: 'w', retry: true, reason: 'x' })).toBe('pending');
    expect(state(start(1, 10), { kind: 'failed', at: at(20), attempt: 1, worker: 'w', retry: false, reason: 'x' })).toBe('failed');
    expect(state({ kind: 'skipped', at: at(1), worker: 'w', why: 'overlap' })).toBe('skipped:overlap');
    expect(state({ kind: 'skipped', at: at(9000), worker: 'w', why: 'missed' })).toBe('missed');
    expect(state({ kind: 'withdrawn', at: at(-5000), term: 3, why: 'paused' })).toBe('skipped:paused');
    expect(summarizeTick({ tick: TICK, events: [{ kind: 'missed', at: at(30_000), term: 4 }] }).state).toBe('missed');
    // Withdrawn, then added again (the spec changed back): it is pending again.
    expect(state({ kind: 'withdrawn', at: at(-5000), term: 3, why: 'changed' }, { ...added, at: at(-1000) })).toBe('pending');
  });

  it('counts attempts started, and times the last one', () => {
    const summary = summarizeTick({
      tick: TICK,
      events: [
        { kind: 'started', at: TICK + 100, attempt: 1, worker: 'a' },
        { kind: 'failed', at: TICK + 300, attempt: 1, worker: 'a', retry: true, reason: 'flaky' },
        { kind: 'started', at: TICK + 5000, attempt: 2, worker: 'b' },
        { kind: 'completed', at: TICK + 5250, attempt: 2, worker: 'b' },
      ],
    });
    expect(summary).toEqual({ tick: TICK, state: 'ran', attempts: 2, latenessMs: 100, durationMs: 250, reason: null });
  });
});

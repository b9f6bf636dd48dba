import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { leaderlessAround, type LeaderTerm } from './leader-history.js';

const numRuns = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 200);
const seed = process.env.DRUMLINE_PROPERTY_SEED ? Number(process.env.DRUMLINE_PROPERTY_SEED) : 20261202;

/** Terms on a small clock (0-300), in any order, overlapping or not, as a history after failovers holds them. */
const terms = fc.array(
  fc.record({ electedAt: fc.nat(300), length: fc.nat(60), replica: fc.constantFrom('a', 'b') }).map(({ electedAt, length, replica }) => ({ electedAt, lastSeenAt: electedAt + length, replica })),
  { maxLength: 6 },
).map((list): LeaderTerm[] => list.map((term, index) => ({ ...term, term: index + 1 })));

/** The slow reference: walk the clock a millisecond at a time from `at` until some term holds it. */
function walk(history: LeaderTerm[], at: number, step: 1 | -1): number | undefined {
  const led = (time: number) => history.some((term) => term.electedAt <= time && time <= term.lastSeenAt);
  for (let time = at; time >= -1 && time <= 400; time += step) if (led(time)) return time;
  return undefined;
}

describe('leaderlessAround', () => {
  test.prop([terms, fc.nat(400)], { numRuns, seed })(
    'answers no gap when a term held `at`, and otherwise the gap from the last sign of life before it to the next election after it',
    (history, at) => {
      const gap = leaderlessAround(history, at);
      if (walk(history, at, 1) === at) {
        expect(gap).toBeUndefined();
        return;
      }
      expect(gap?.from).toBe(walk(history, at, -1));
      expect(gap?.to).toBe(walk(history, at, 1));
    },
  );
});

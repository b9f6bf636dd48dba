import { fc } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DueIndex } from '../src/due-index.js';

// CI runs a fixed seed; DRUMLINE_PROPERTY_RUNS=5000 (and DRUMLINE_PROPERTY_SEED) run far more.
const RUNS = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 300);
const SEED = Number(process.env.DRUMLINE_PROPERTY_SEED ?? 20261202);

const operation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 0, max: 30 }), at: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant('take' as const), until: fc.integer({ min: -1, max: 100 }) }),
);

describe('DueIndex', () => {
  it('takes exactly the ids a scan of every id would find due, each once, earliest first', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 400 }), (operations) => {
        const index = new DueIndex();
        // The obviously-correct reference: every id's time, scanned in full.
        const reference = new Map<string, number>();
        for (const step of operations) {
          if (step.kind === 'set') {
            index.set(`s${step.id}`, step.at);
            reference.set(`s${step.id}`, step.at);
          } else if (step.kind === 'delete') {
            index.delete(`s${step.id}`);
            reference.delete(`s${step.id}`);
          } else {
            const taken = index.takeDue(step.until);
            const due = [...reference].filter(([, at]) => at <= step.until);
            expect(new Set(taken)).toEqual(new Set(due.map(([id]) => id)));
            expect(taken).toHaveLength(due.length);
            const times = taken.map((id) => reference.get(id) as number);
            expect(times).toEqual([...times].sort((a, b) => a - b));
            for (const [id] of due) reference.delete(id);
          }
          expect(index.size).toBe(reference.size);
          for (const [id, at] of reference) expect(index.get(id)).toBe(at);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  });

  it('takes an id moved again and again once, at its last time', () => {
    const index = new DueIndex();
    for (let at = 0; at < 100_000; at += 1) index.set('busy', at);
    expect(index.size).toBe(1);
    expect(index.takeDue(99_998)).toEqual([]);
    expect(index.takeDue(99_999)).toEqual(['busy']);
    expect(index.takeDue(Number.POSITIVE_INFINITY)).toEqual([]);
  });
});

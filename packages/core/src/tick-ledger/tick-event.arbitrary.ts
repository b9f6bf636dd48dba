import { fc } from '@fast-check/vitest';
import type { TickEvent } from './tick-events.js';

/** Any event the ledger can hold, at `tick` plus or minus a day, with any text where text goes. */
export function tickEventArbitrary(tick: number, text: fc.Arbitrary<string> = fc.string({ unit: 'grapheme', maxLength: 40 })): fc.Arbitrary<TickEvent> {
  const at = fc.integer({ min: tick - 86_400_000, max: tick + 86_400_000 });
  const term = fc.integer({ min: 1, max: 1_000_000 });
  const attempt = fc.integer({ min: 1, max: 50 });
  const worker = text;
  return fc.oneof(
    fc.record({ kind: fc.constant('materialized' as const), at, term, late: fc.boolean() }),
    fc.record({ kind: fc.constant('backfilled' as const), at }),
    fc.record({ kind: fc.constant('missed' as const), at, term }),
    fc.record({ kind: fc.constant('withdrawn' as const), at, term, why: fc.constantFrom('changed' as const, 'paused' as const, 'deleted' as const) }),
    fc.record({ kind: fc.constant('started' as const), at, attempt, worker }),
    fc.record({ kind: fc.constant('completed' as const), at, attempt, worker }),
    fc.record({ kind: fc.constant('requeued' as const), at, attempt, worker }),
    fc.record({ kind: fc.constant('failed' as const), at, attempt, worker, retry: fc.boolean(), reason: text }),
    fc.record({ kind: fc.constant('skipped' as const), at, worker, why: fc.constantFrom('paused' as const, 'overlap' as const, 'missed' as const) }),
    fc.record({ kind: fc.constant('duplicate' as const), at, worker }),
  );
}

export const propertyRuns = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 100);
export const propertySeed = process.env.DRUMLINE_PROPERTY_SEED ? Number(process.env.DRUMLINE_PROPERTY_SEED) : 20261202;

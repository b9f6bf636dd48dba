import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { jitterOffsetMs, MAX_JITTER_MS } from './schedule-jitter.js';

describe('jitterOffsetMs', () => {
  test.prop([fc.string({ minLength: 1, maxLength: 128 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 1, max: MAX_JITTER_MS })])(
    'is a whole number of ms in [0, jitterMs), the same every time it is asked',
    (id, tick, jitterMs) => {
      const offset = jitterOffsetMs(id, tick, jitterMs);
      expect(Number.isInteger(offset) && offset >= 0 && offset < jitterMs).toBe(true);
      expect(jitterOffsetMs(id, tick, jitterMs)).toBe(offset);
    },
  );

  it('is 0 without jitter', () => {
    expect(jitterOffsetMs('nightly', Date.UTC(2026, 0, 1), 0)).toBe(0);
  });

  it("spreads the runs of one tick over the window: 1000 schedules' offsets fill each tenth of it", () => {
    const tick = Date.UTC(2026, 0, 1);
    const tenths = new Array<number>(10).fill(0);
    for (let index = 0; index < 1000; index += 1) {
      const tenth = Math.floor(jitterOffsetMs(`customer-${index}`, tick, 10_000) / 1000);
      tenths[tenth] = (tenths[tenth] ?? 0) + 1;
    }
    for (const count of tenths) expect(count).toBeGreaterThan(50);
  });

  it("moves one schedule's runs from tick to tick, so no schedule is always last", () => {
    const offsets = new Set(Array.from({ length: 50 }, (_, index) => jitterOffsetMs('report', Date.UTC(2026, 0, 1, index), 10_000)));
    expect(offsets.size).toBeGreaterThan(40);
  });
});

import { describe, expect, it } from 'vitest';
import { parseScheduledRunId, scheduledRunId } from './scheduled-run-id.js';

const tick = Date.parse('2026-03-01T18:00:00Z');

describe('scheduled run ids', () => {
  it('joins the schedule id and the tick in epoch ms with @', () => {
    expect(scheduledRunId('expire-coupons-nightly', tick)).toBe(`expire-coupons-nightly@${tick}`);
  });

  it('reads back the schedule and the nominal tick it was made from', () => {
    expect(parseScheduledRunId(scheduledRunId('expire-coupons-nightly', tick))).toMatchObject({
      scheduleId: 'expire-coupons-nightly',
      scheduledFor: new Date('2026-03-01T18:00:00Z'),
    });
  });

  it('round-trips a tick at the epoch itself', () => {
    expect(parseScheduledRunId(scheduledRunId('s', 0))).toMatchObject({ scheduleId: 's', scheduledFor: new Date(0) });
  });

  it('splits at the last @, so a schedule id containing @ survives the round trip', () => {
    expect(parseScheduledRunId(scheduledRunId('team@berlin', tick))).toMatchObject({ scheduleId: 'team@berlin', scheduledFor: new Date(tick) });
    expect(parseScheduledRunId(scheduledRunId('a@1@b', tick))).toMatchObject({ scheduleId: 'a@1@b', scheduledFor: new Date(tick) });
  });

  it.each([undefined, '', '42', 'order-1234', '@1700000000000', 'cleanup@', 'cleanup@soon', 'cleanup@-5'])(
    'returns undefined for %j, an id that no schedule made',
    (id) => {
      expect(parseScheduledRunId(id)).toBeUndefined();
    },
  );
});

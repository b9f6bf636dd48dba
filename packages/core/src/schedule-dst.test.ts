import { describe, expect, it } from 'vitest';
import { ticksAfter } from './schedule-spec.js';

const cron = (expr: string, tz: string, from: string, count: number) =>
  ticksAfter({ kind: 'cron', cron: expr, tz }, Date.parse(from), count).map((ms) => new Date(ms).toISOString());

// The documented rule (README, "Time zones and DST"), as in Vixie cron:
// - a local time that does not exist (spring forward) runs once, shifted forward by the gap;
// - a local time that happens twice (fall back) runs once, at its first occurrence;
// - entries with a wildcard hour (*/30 * * * *, 0 * * * *) keep firing on real elapsed time.
describe('cron across DST changes', () => {
  it('America/New_York spring forward: 02:30 does not exist on 2026-03-08 and runs at 03:30 EDT', () => {
    expect(cron('30 2 * * *', 'America/New_York', '2026-03-07T12:00:00Z', 2)).toEqual(['2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z']);
  });

  it('America/New_York fall back: 01:30 happens twice on 2026-11-01 and runs once, at 01:30 EDT', () => {
    expect(cron('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });

  it('Europe/Berlin spring forward: 02:30 does not exist on 2026-03-29 and runs at 03:30 CEST', () => {
    expect(cron('30 2 * * *', 'Europe/Berlin', '2026-03-28T12:00:00Z', 2)).toEqual(['2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z']);
  });

  it('Europe/Berlin fall back: 02:30 happens twice on 2026-10-25 and runs once, at 02:30 CEST', () => {
    expect(cron('30 2 * * *', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('Europe/Berlin fall back: */30 keeps firing every 30 real minutes through the repeated hour', () => {
    expect(cron('*/30 * * * *', 'Europe/Berlin', '2026-10-24T23:45:00Z', 5)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T02:00:00.000Z',
    ]);
  });

  it('America/New_York spring forward: hourly runs keep one hour of real time apart, skipping no run', () => {
    expect(cron('0 * * * *', 'America/New_York', '2026-03-08T05:30:00Z', 3)).toEqual([
      '2026-03-08T06:00:00.000Z',
      '2026-03-08T07:00:00.000Z',
      '2026-03-08T08:00:00.000Z',
    ]);
  });

  it('evaluates in the schedule zone, never the host zone', () => {
    const before = process.env.TZ;
    process.env.TZ = 'Pacific/Auckland';
    try {
      expect(cron('0 9 * * *', 'UTC', '2026-06-01T00:00:00Z', 1)).toEqual(['2026-06-01T09:00:00.000Z']);
    } finally {
      process.env.TZ = before;
    }
  });
});

import { describe, expect, it } from 'vitest';
import { ticksAfter } from './schedule-spec.js';

const cron = (expr: string, tz: string, from: string, count: number) =>
  ticksAfter({ kind: 'cron', cron: expr, tz }, Date.parse(from), count).map((ms) => new Date(ms).toISOString());

// The documented rule (README, "Time zones and DST"); each expectation is worked out by hand from it:
// - a local time that does not exist (spring forward) runs once, shifted forward by the gap;
// - a local time that happens twice (fall back) runs once, at its first occurrence;
// - entries with a wildcard hour (*/30 * * * *, 0 * * * *) run whenever the clock shows a
//   matching time, so they keep firing on real elapsed time.
// The oracle test (time/cron-ticks.property.test.ts) checks the same rule in every zone.
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

  it('Australia/Lord_Howe spring forward by 30 minutes: 02:15 does not exist on 2026-10-04 and runs at 02:45 +11:00', () => {
    expect(cron('15 2 * * *', 'Australia/Lord_Howe', '2026-10-02T12:00:00Z', 3)).toEqual([
      '2026-10-02T15:45:00.000Z',
      '2026-10-03T15:45:00.000Z',
      '2026-10-04T15:15:00.000Z',
    ]);
  });

  it('Australia/Lord_Howe fall back by 30 minutes: 01:45 happens twice on 2026-04-05 and runs once, at 01:45 +11:00', () => {
    expect(cron('45 1 * * *', 'Australia/Lord_Howe', '2026-04-03T12:00:00Z', 3)).toEqual([
      '2026-04-03T14:45:00.000Z',
      '2026-04-04T14:45:00.000Z',
      '2026-04-05T15:15:00.000Z',
    ]);
  });

  it('Australia/Lord_Howe fall back: */30 fires at each half hour the clock shows, the repeated 01:30 included', () => {
    expect(cron('*/30 * * * *', 'Australia/Lord_Howe', '2026-04-04T13:45:00Z', 4)).toEqual([
      '2026-04-04T14:00:00.000Z',
      '2026-04-04T14:30:00.000Z',
      '2026-04-04T15:00:00.000Z',
      '2026-04-04T15:30:00.000Z',
    ]);
  });

  it('America/Havana: midnight does not exist on 2026-03-08, so the nightly run is at 01:00 CDT, and the next night is back at 00:00', () => {
    expect(cron('0 0 * * *', 'America/Havana', '2026-03-06T12:00:00Z', 3)).toEqual(['2026-03-07T05:00:00.000Z', '2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z']);
  });

  it('Europe/Volgograd, a base offset change that is not DST: 01:30 happens twice on 2020-12-27 and runs once, at 01:30 +04:00', () => {
    expect(cron('30 1 * * *', 'Europe/Volgograd', '2020-12-25T12:00:00Z', 3)).toEqual(['2020-12-25T21:30:00.000Z', '2020-12-26T21:30:00.000Z', '2020-12-27T22:30:00.000Z']);
  });

  it('Pacific/Apia skipped all of 2011-12-30: that midnight is shifted a day forward onto the next one, and runs once', () => {
    expect(cron('0 0 * * *', 'Pacific/Apia', '2011-12-28T12:00:00Z', 3)).toEqual(['2011-12-29T10:00:00.000Z', '2011-12-30T10:00:00.000Z', '2011-12-31T10:00:00.000Z']);
  });

  it('resumes inside a repeated hour without running its tick again: from the second 02:45 in Berlin, the next 02:30 is the next day', () => {
    // 2026-10-25 01:45Z is 02:45 CET, the second pass through 02:00-03:00; 02:30 ran at 00:30Z (CEST).
    expect(cron('30 2 * * *', 'Europe/Berlin', '2026-10-25T01:45:00Z', 1)).toEqual(['2026-10-26T01:30:00.000Z']);
    expect(cron('30 2 * * *', 'Europe/Berlin', '2026-10-25T01:15:00Z', 1)).toEqual(['2026-10-26T01:30:00.000Z']);
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

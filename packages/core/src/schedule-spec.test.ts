import { describe, expect, it } from 'vitest';
import { JobDefinitionError, type InvalidTimingError } from './errors/index.js';
import { MAX_EVERY_MS, normalizeTiming, ticksAfter, type NormalizedTiming } from './schedule-spec.js';

const at = (iso: string) => Date.parse(iso);
const isoTicks = (timing: NormalizedTiming, afterIso: string, limit: number, untilIso?: string) =>
  ticksAfter(timing, at(afterIso), limit, untilIso === undefined ? undefined : at(untilIso)).map((tick) => new Date(tick).toISOString());

describe('normalizeTiming', () => {
  it('gives a cron without a zone the zone UTC', () => {
    expect(normalizeTiming({ cron: '0 3 * * *' }, 'schedule `nightly`')).toEqual({ kind: 'cron', cron: '0 3 * * *', tz: 'UTC' });
  });

  it('keeps a cron’s zone', () => {
    expect(normalizeTiming({ cron: '30 9 * * 1-5', tz: 'Europe/Berlin' }, 'schedule `team`')).toEqual({
      kind: 'cron',
      cron: '30 9 * * 1-5',
      tz: 'Europe/Berlin',
    });
  });

  it.each([
    [90_000, 90_000],
    ['2h', 7_200_000],
    ['30m', 1_800_000],
    ['1.5s', 1_500],
  ])('turns every %j into %i ms', (every, everyMs) => {
    expect(normalizeTiming({ every }, 'schedule `often`')).toEqual({ kind: 'every', everyMs });
  });

  it.each(['2026-12-01T09:00:00Z', '2026-12-01T10:00:00+01:00', new Date('2026-12-01T09:00:00Z')])('turns at %s into epoch ms', (when) => {
    expect(normalizeTiming({ at: when }, 'schedule `once`')).toEqual({ kind: 'at', atMs: at('2026-12-01T09:00:00Z') });
  });

  it('rejects a bad zone every time, though a zone checked once is not checked again', () => {
    for (let i = 0; i < 2; i += 1) {
      expect(normalizeTiming({ cron: '0 3 * * *', tz: 'Europe/Berlin' }, 'schedule `ok`')).toMatchObject({ tz: 'Europe/Berlin' });
      expect(() => normalizeTiming({ cron: '0 3 * * *', tz: 'Mars/Olympus_Mons' }, `schedule \`bad-${i}\``)).toThrow(
        `schedule \`bad-${i}\`: time zone \`Mars/Olympus_Mons\` is not an IANA zone name`,
      );
    }
  });

  it('rejects a bad cron every time, naming each owner, though a cron checked once is not parsed again', () => {
    for (let i = 0; i < 2; i += 1) {
      expect(normalizeTiming({ cron: '0 3 * * *' }, 'schedule `ok`')).toMatchObject({ cron: '0 3 * * *' });
      expect(() => normalizeTiming({ cron: '61 3 * * *' }, `schedule \`bad-${i}\``)).toThrow(`schedule \`bad-${i}\`: cron \`61 3 * * *\` is invalid`);
    }
  });

  it('starts its error with the owner it is given', () => {
    expect(() => normalizeTiming({ every: 10 }, 'schedule `often`')).toThrow(JobDefinitionError);
    expect(() => normalizeTiming({ every: 10 }, 'schedule `often`')).toThrow(/^schedule `often`: every `10` must be/);
  });
});

describe('ticksAfter', () => {
  describe('every', () => {
    const minutely: NormalizedTiming = { kind: 'every', everyMs: 60_000 };

    it('returns the next ticks on the grid aligned to the Unix epoch, up to the limit', () => {
      expect(isoTicks(minutely, '2026-03-01T10:00:30.250Z', 3)).toEqual([
        '2026-03-01T10:01:00.000Z',
        '2026-03-01T10:02:00.000Z',
        '2026-03-01T10:03:00.000Z',
      ]);
    });

    it('puts every tick on a multiple of the interval since the epoch, wherever it starts, so replicas agree', () => {
      const sevenMinutes: NormalizedTiming = { kind: 'every', everyMs: 7 * 60_000 };
      const fromOneReplica = ticksAfter(sevenMinutes, at('2026-03-01T10:00:00Z'), 4);
      const fromAnother = ticksAfter(sevenMinutes, at('2026-03-01T10:06:59.999Z'), 3);

      expect(fromOneReplica.every((tick) => tick % (7 * 60_000) === 0)).toBe(true);
      expect(fromOneReplica.slice(1)).toEqual(fromAnother);
    });

    it('returns only ticks strictly after the given time, so a tick just run is not returned again', () => {
      expect(isoTicks(minutely, '2026-03-01T10:01:00.000Z', 1)).toEqual(['2026-03-01T10:02:00.000Z']);
    });

    it('returns nothing for a limit of 0', () => {
      expect(ticksAfter(minutely, at('2026-03-01T10:00:00Z'), 0)).toEqual([]);
    });

    it('stops at until, a tick at until included', () => {
      expect(isoTicks(minutely, '2026-03-01T10:00:00Z', 10, '2026-03-01T10:03:00Z')).toEqual([
        '2026-03-01T10:01:00.000Z',
        '2026-03-01T10:02:00.000Z',
        '2026-03-01T10:03:00.000Z',
      ]);
      expect(isoTicks(minutely, '2026-03-01T10:00:00Z', 10, '2026-03-01T10:00:59.999Z')).toEqual([]);
    });
  });

  describe('at', () => {
    const once: NormalizedTiming = { kind: 'at', atMs: at('2026-12-01T09:00:00Z') };

    it('returns its one tick, however high the limit', () => {
      expect(isoTicks(once, '2026-11-30T00:00:00Z', 10)).toEqual(['2026-12-01T09:00:00.000Z']);
    });

    it('returns nothing once its time has passed, or is the given time itself', () => {
      expect(isoTicks(once, '2026-12-01T09:00:00.001Z', 10)).toEqual([]);
      expect(isoTicks(once, '2026-12-01T09:00:00.000Z', 10)).toEqual([]);
    });

    it('returns nothing when its time is after until, or the limit is 0', () => {
      expect(isoTicks(once, '2026-11-30T00:00:00Z', 10, '2026-12-01T08:59:59Z')).toEqual([]);
      expect(isoTicks(once, '2026-11-30T00:00:00Z', 0)).toEqual([]);
    });
  });

  describe('cron', () => {
    const shanghaiNightly = normalizeTiming({ cron: '0 2 * * *', tz: 'Asia/Shanghai' }, 'schedule `expire-coupons-nightly`');

    it('reads the cron in its zone: 02:00 in Asia/Shanghai is 18:00 UTC the day before', () => {
      expect(isoTicks(shanghaiNightly, '2026-03-01T00:00:00Z', 3)).toEqual([
        '2026-03-01T18:00:00.000Z',
        '2026-03-02T18:00:00.000Z',
        '2026-03-03T18:00:00.000Z',
      ]);
    });

    it('returns only ticks strictly after the given time', () => {
      expect(isoTicks(shanghaiNightly, '2026-03-01T18:00:00.000Z', 1)).toEqual(['2026-03-02T18:00:00.000Z']);
      expect(isoTicks(shanghaiNightly, '2026-03-01T17:59:59.999Z', 1)).toEqual(['2026-03-01T18:00:00.000Z']);
    });

    it('stops at until, a tick at until included', () => {
      expect(isoTicks(shanghaiNightly, '2026-03-01T00:00:00Z', 10, '2026-03-02T18:00:00Z')).toEqual([
        '2026-03-01T18:00:00.000Z',
        '2026-03-02T18:00:00.000Z',
      ]);
    });

    it('gives the same ticks however the calls before it moved through the same cron', () => {
      const later = isoTicks(shanghaiNightly, '2026-06-01T00:00:00Z', 1);
      const earlier = isoTicks(shanghaiNightly, '2026-03-01T00:00:00Z', 1);

      expect(later).toEqual(['2026-06-01T18:00:00.000Z']);
      expect(earlier).toEqual(['2026-03-01T18:00:00.000Z']);
    });

    it('returns nothing for a limit of 0', () => {
      expect(ticksAfter(shanghaiNightly, at('2026-03-01T00:00:00Z'), 0)).toEqual([]);
    });

    it('skips the days a weekday cron excludes: 09:30 Berlin on weekdays in winter is 08:30 UTC, Friday to Monday', () => {
      const team = normalizeTiming({ cron: '30 9 * * 1-5', tz: 'Europe/Berlin' }, 'schedule `daily-report-team`');

      expect(isoTicks(team, '2026-01-09T12:00:00Z', 2)).toEqual(['2026-01-12T08:30:00.000Z', '2026-01-13T08:30:00.000Z']);
    });
  });
});

describe('normalizeTiming refuses what it would otherwise reinterpret', () => {
  const refusal = (timing: Parameters<typeof normalizeTiming>[0]) => {
    try {
      normalizeTiming(timing, 'schedule `s`');
    } catch (error) {
      return error as InvalidTimingError;
    }
    throw new Error(`accepted ${JSON.stringify(timing)}`);
  };

  it.each([
    ['*/61 * * * *', 'minutes `*/61` steps by 61, more than the 60 value(s)'],
    ['0 */25 * * *', 'hours `*/25` steps by 25, more than the 24 value(s)'],
    ['0 0 */32 * *', 'days of month `*/32` steps by 32'],
    ['0 0 1 */13 *', 'months `*/13` steps by 13'],
    ['0 0 * * */8', 'days of week `*/8` steps by 8'],
    ['0 10-20/15 * * *', 'hours `10-20/15` steps by 15, more than the 11 value(s)'],
    ['*/61 * * * * *', 'seconds `*/61` steps by 61'],
  ])('refuses %s: a step beyond its field would fire only at the field’s start', (cron, why) => {
    const error = refusal({ cron });
    expect(error.field).toBe('cron');
    expect(error.message).toContain(`schedule \`s\`: cron \`${cron}\` is invalid: ${why}`);
  });

  it.each(['*/60 * * * *', '0 */24 * * *', '0 0 * * */7', '0 9 * * MON-FRI/2'])('accepts %s: its step fits its field', (cron) => {
    expect(normalizeTiming({ cron }, 'schedule `s`')).toMatchObject({ kind: 'cron', cron });
  });

  it.each(['0 0 30 2 *', '0 0 31 4,6 *'])('refuses %s, which never fires, naming the cron', (cron) => {
    const error = refusal({ cron });
    expect(error.field).toBe('cron');
    expect(error.message).toMatch(new RegExp(`^schedule \`s\`: cron \`${cron.replace(/\*/g, '\\*')}\` is invalid`));
  });

  it('accepts a cron that fires only every 28 years (the fifth Monday of February)', () => {
    const timing = normalizeTiming({ cron: '0 0 * 2 1#5' }, 'schedule `s`');
    expect(isoTicks(timing, '2026-01-01T00:00:00Z', 2)).toEqual(['2044-02-29T00:00:00.000Z', '2072-02-29T00:00:00.000Z']);
  });

  it('refuses an every longer than a year, whose next runs could not be printed, and a tz with every', () => {
    expect(refusal({ every: MAX_EVERY_MS + 1 }).field).toBe('every');
    expect(refusal({ every: '1000000y' }).message).toContain('every `1000000y` must be a whole number of ms from 1000 to');
    expect(normalizeTiming({ every: MAX_EVERY_MS }, 'schedule `s`')).toEqual({ kind: 'every', everyMs: MAX_EVERY_MS });
    const zoned = refusal({ every: '1h', tz: 'Europe/Berlin' } as Parameters<typeof normalizeTiming>[0]);
    expect(zoned.field).toBe('tz');
    expect(zoned.message).toContain('tz applies to cron and at only');
  });

  it('reads an at without offset in its tz, by the same rule as cron, and refuses it without one', () => {
    expect(normalizeTiming({ at: '2026-12-01T09:00', tz: 'Europe/Berlin' }, 'schedule `s`')).toEqual({ kind: 'at', atMs: at('2026-12-01T08:00:00Z') });
    // 02:30 does not exist in Berlin on 2026-03-29: shifted forward by the gap, to 03:30 CEST.
    expect(normalizeTiming({ at: '2026-03-29T02:30', tz: 'Europe/Berlin' }, 'schedule `s`')).toEqual({ kind: 'at', atMs: at('2026-03-29T01:30:00Z') });
    expect(refusal({ at: '2026-12-01T09:00' }).message).toContain('has no offset');
    expect(refusal({ at: '2026-12-01T09:00:00Z', tz: 'Europe/Berlin' }).field).toBe('at');
    expect(refusal({ at: '1', tz: 'Europe/Berlin' }).message).toContain('is not a date');
    expect(refusal({ at: '2026-12-01T09:00', tz: 'Mars/Base' }).field).toBe('tz');
  });

  it('refuses an at outside the years 1970-9999', () => {
    expect(refusal({ at: '1969-12-31T23:59:59Z' }).message).toContain('must fall in the years 1970-9999');
    expect(refusal({ at: new Date(8.64e15) }).message).toContain('must fall in the years 1970-9999');
  });
});

import { describe, expect, it } from 'vitest';
import { JobDefinitionError } from './errors/index.js';
import { normalizeTiming, ticksAfter, type NormalizedTiming } from './schedule-spec.js';

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

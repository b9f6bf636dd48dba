import { fc } from '@fast-check/vitest';
import { CronExpressionParser } from 'cron-parser';
import { describe, expect, it } from 'vitest';
import { normalizeTiming, ticksAfter, type NormalizedTiming } from '../schedule-spec.js';
import { CronCalendar } from './cron-calendar.js';
import { CronTicks } from './cron-ticks.js';
import { ZoneTimeline } from './zone-timeline.js';
import { PlainCron, readingAt, referenceTicks, transitionsIn } from './wall-clock-oracle.test-support.js';

// CI runs a fixed seed; DRUMLINE_PROPERTY_RUNS=5000 (and DRUMLINE_PROPERTY_SEED) run far more.
const RUNS = Number(process.env.DRUMLINE_PROPERTY_RUNS ?? 120);
const SEED = Number(process.env.DRUMLINE_PROPERTY_SEED ?? 20261201);
const options = (runs = RUNS) => ({ seed: SEED, numRuns: runs, endOnFailure: true });
/** The reference walks two days minute by minute: about 50 ms a case. */
const TIMEOUT = Math.max(60_000, RUNS * 250);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const ZONES = Intl.supportedValuesOf('timeZone');

const list = (values: number[]) => [...new Set(values)].sort((a, b) => a - b).join(',');
/** A cron field in the plain syntax over [min, max]: a value, a list, a range, a step, or `*`. */
function field(min: number, max: number, star: number): fc.Arbitrary<string> {
  const value = fc.integer({ min, max });
  return fc.oneof(
    { weight: star, arbitrary: fc.constant('*') },
    { weight: 3, arbitrary: value.map(String) },
    { weight: 2, arbitrary: fc.array(value, { minLength: 2, maxLength: 4 }).map(list) },
    { weight: 2, arbitrary: fc.tuple(value, value).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`) },
    {
      weight: 1,
      arbitrary: fc.tuple(value, fc.integer({ min: 1, max: Math.max(1, Math.floor((max - min + 1) / 2)) })).map(([a, step]) => `${a}-${max}/${step}`),
    },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: Math.max(2, Math.floor((max - min + 1) / 2)) }).map((step) => `*/${step}`) },
  );
}

const valid = (cron: string) => {
  try {
    normalizeTiming({ cron }, 'generated');
    return true;
  } catch {
    return false;
  }
};

/**
 * Crons of every shape: fixed times, lists, ranges, steps, wildcard hours, days of month and week.
 * Given the local hour at which a zone's clock changes, hours around it come up often, so that
 * the times a change skips or repeats are tested, not only the times it leaves alone.
 */
const plainCronNear = (hour?: number) => {
  const near = hour === undefined ? fc.integer({ min: 0, max: 23 }) : fc.integer({ min: -1, max: 1 }).map((delta) => (hour + delta + 24) % 24);
  const hours = fc.oneof(
    { weight: 3, arbitrary: field(0, 23, 2) },
    { weight: 3, arbitrary: near.map(String) },
    { weight: 1, arbitrary: fc.tuple(near, near).map(([a, b]) => list([a, b])) },
  );
  const minutes = fc.oneof({ weight: 3, arbitrary: field(0, 59, 1) }, { weight: 1, arbitrary: fc.constantFrom('0', '30', '15,45', '0-59/10') });
  return fc
    .tuple(minutes, hours, field(1, 31, 8), field(1, 12, 10), field(0, 7, 8))
    .map((fields) => fields.join(' '))
    .filter(valid);
};
const plainCron = plainCronNear();

/** A zone and an instant near one of its real transitions between 1970 and 2037 (or anywhere in a year without one). */
const zoneAndInstant = fc
  .record({ zone: fc.constantFrom(...ZONES), year: fc.integer({ min: 1970, max: 2037 }), pick: fc.nat(), shift: fc.integer({ min: -36 * HOUR, max: 12 * HOUR }) })
  .map(({ zone, year, pick, shift }) => {
    const transitions = transitionsIn(zone, year);
    const around = transitions.length > 0 ? (transitions[pick % transitions.length] as number) : Date.UTC(year, 0, 1) + (pick % 365) * DAY;
    const from = Math.floor((around + shift) / 60_000) * 60_000 + (pick % 3 === 0 ? 0 : pick % 60_000);
    return { zone, from, changeHour: transitions.length > 0 ? readingAt(around - 1, zone).hour : undefined };
  });
const cronNearAChange = zoneAndInstant.chain((at) => plainCronNear(at.changeHour).map((cron) => ({ cron, ...at })));

const cronTiming = (cron: string, tz: string): NormalizedTiming => normalizeTiming({ cron, tz }, 'generated') as NormalizedTiming;
const iso = (ticks: number[]) => ticks.map((tick) => new Date(tick).toISOString());

/** Crons that fire rarely: one day of one month, a weekday's fifth occurrence, the 29th of February. */
const rareCron = fc
  .tuple(fc.constantFrom('0', '30', '*/20'), fc.oneof(fc.integer({ min: 0, max: 23 }).map(String), fc.constant('*')), fc.constantFrom('29 2 *', '* 2 1#5', '13 * 5', '31 12 *', '1 1,7 *', 'L 2 *', '* 10 0L'))
  .map((fields) => fields.join(' '))
  .filter(valid);

describe('the cron engine against a minute-by-minute walk of the zone’s clock', () => {
  it('gives exactly the reference ticks over two days around real transitions, in any zone', () => {
    let compared = 0;
    fc.assert(
      fc.property(cronNearAChange, ({ cron, zone, from }) => {
        const to = from + 2 * DAY;
        const expected = referenceTicks(new PlainCron(cron), zone, from, to);
        fc.pre(expected !== undefined);
        compared += 1;
        expect(iso(ticksAfter(cronTiming(cron, zone), from, 100_000, to))).toEqual(iso(expected as number[]));
      }),
      options(),
    );
    expect(compared).toBeGreaterThan(RUNS / 2);
  }, TIMEOUT);

  it('is resumable: the ticks after t are the ticks after any earlier s with those up to t removed', () => {
    fc.assert(
      fc.property(cronNearAChange, fc.integer({ min: 1, max: 2 * DAY }), fc.integer({ min: 1, max: 20 }), ({ cron, zone, from }, gap, limit) => {
        const timing = cronTiming(cron, zone);
        const later = from + gap;
        const until = from + 4 * DAY;
        const fromEarlier = ticksAfter(timing, from, 100_000, until).filter((tick) => tick > later);
        expect(ticksAfter(timing, later, 100_000, until)).toEqual(fromEarlier);
        // A limit only cuts the same list short, and asking again (now from the engine's memory) agrees.
        expect(ticksAfter(timing, later, limit)).toEqual(ticksAfter(timing, later, limit + 5).slice(0, limit));
        expect(ticksAfter(timing, later, limit, until)).toEqual(fromEarlier.slice(0, limit));
      }),
      options(),
    );
  }, TIMEOUT);

  it('never runs dry: a cron that fires has a next tick after any instant from 1970 to 2037', () => {
    fc.assert(
      fc.property(cronNearAChange, ({ cron, zone, from }) => {
        const [next] = ticksAfter(cronTiming(cron, zone), from, 1);
        expect(next).toBeGreaterThan(from);
      }),
      options(),
    );
  }, TIMEOUT);
});

describe('skipping spans for rare crons', () => {
  it('gives the same ticks as visiting every span, over decades, in any zone', () => {
    fc.assert(
      fc.property(rareCron, fc.constantFrom(...ZONES), fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2037, 0, 1) }), (cron, zone, from) => {
        const skipping = new CronTicks(new CronCalendar(cron), ZoneTimeline.of(zone));
        const visiting = new CronTicks(new CronCalendar(cron), ZoneTimeline.of(zone), { skipSpans: false });
        expect(iso(skipping.after(from, 4))).toEqual(iso(visiting.after(from, 4)));
        expect(iso(skipping.after(from, 50, from + 20 * 365 * DAY))).toEqual(iso(visiting.after(from, 50, from + 20 * 365 * DAY)));
      }),
      options(Math.ceil(RUNS / 2)),
    );
  }, TIMEOUT);
});

/** The full syntax cron-parser reads, for comparing calendars in UTC, where no clock ever jumps. */
const fullCron = fc
  .tuple(
    fc.oneof(fc.constant(''), fc.constantFrom('0 ', '30 ', '*/20 ', '5,10 ')),
    plainCron,
    fc.constantFrom('', 'L', '1L', '5#2', '0#5', 'MON-FRI', 'SUN', 'L,15'),
    fc.constantFrom('', 'JAN,FEB', 'FEB', 'DEC'),
  )
  .map(([seconds, cron, day, month]) => {
    const fields = cron.split(' ');
    if (/^\d|^L/.test(day)) fields[day.includes('#') || /^\dL$/.test(day) ? 4 : 2] = day;
    else if (day) fields[4] = day;
    if (month) fields[3] = month;
    return seconds + fields.join(' ');
  })
  .filter(valid);

describe('the cron calendar against cron-parser in UTC', () => {
  it('matches the same wall-clock times as cron-parser for the whole syntax, L and # included', () => {
    fc.assert(
      fc.property(fullCron, fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2037, 0, 1) }), (cron, from) => {
        const calendar = new CronCalendar(cron);
        const parsed = CronExpressionParser.parse(cron, { tz: 'UTC', currentDate: new Date(from) });
        let ours = from;
        for (let index = 0; index < 12; index += 1) {
          const theirs = parsed.next().getTime();
          ours = calendar.nextAfter(ours) as number;
          expect(new Date(ours).toISOString()).toBe(new Date(theirs).toISOString());
        }
      }),
      options(Math.ceil(RUNS / 2)),
    );
  }, TIMEOUT);
});

/**
 * A slow, obviously-correct reference for the cron engine, for tests only: it walks the zone's
 * clock minute by minute with Intl.DateTimeFormat and applies the README's rule to each reading.
 * It shares no code with the engine: its own cron matcher (for the plain syntax: numbers, `*`,
 * lists, ranges, steps), its own offsets (Intl, not Temporal), its own notion of gaps and repeats.
 */
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

export interface Reading {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
  /** The reading as if it were UTC, in ms: comparable, and reading minus instant is the offset. */
  local: number;
}

export function readingAt(instant: number, timeZone: string): Reading {
  const parts: Record<string, number> = {};
  for (const part of formatterOf(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const { year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0 } = parts;
  const local = Date.UTC(year, month - 1, day, hour, minute, second);
  return { year, month, day, hour, minute, second, weekday: new Date(local).getUTCDay(), local };
}

export const offsetAt = (instant: number, timeZone: string) => readingAt(instant, timeZone).local - Math.floor(instant / 1000) * 1000;

/** The instants in `year` at which the zone's offset changes, found by weekly samples and bisection to the minute. */
export function transitionsIn(timeZone: string, year: number): number[] {
  const found: number[] = [];
  const start = Date.UTC(year, 0, 1);
  const end = Date.UTC(year + 1, 0, 1);
  const step = 7 * 24 * HOUR;
  for (let low = start; low < end; low += step) {
    const high = Math.min(low + step, end);
    if (offsetAt(low, timeZone) === offsetAt(high, timeZone)) continue;
    let [a, b] = [low, high];
    while (b - a > MINUTE) {
      const middle = a + Math.floor((b - a) / 2 / MINUTE) * MINUTE;
      if (offsetAt(middle, timeZone) === offsetAt(a, timeZone)) a = middle;
      else b = middle;
    }
    found.push(b);
  }
  return found;
}

/** A 5-field cron in the plain syntax, read independently of cron-parser. */
export class PlainCron {
  private readonly fields: Set<number>[];
  private readonly anyDayOfMonth: boolean;
  private readonly anyWeekday: boolean;
  readonly wildcardHour: boolean;

  constructor(readonly expression: string) {
    const written = expression.trim().split(/\s+/);
    if (written.length !== 5) throw new Error(`PlainCron takes 5 fields: ${expression}`);
    const ranges: [number, number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
    this.fields = written.map((field, index) => expand(field, ...(ranges[index] as [number, number])));
    const weekdays = this.fields[4] as Set<number>;
    if (weekdays.has(7)) weekdays.add(0);
    this.anyDayOfMonth = written[2] === '*';
    this.anyWeekday = written[4] === '*';
    this.wildcardHour = (written[1] as string).startsWith('*');
  }

  matches(reading: Reading): boolean {
    const [minutes, hours, daysOfMonth, months, weekdays] = this.fields as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
    if (reading.second !== 0 || !minutes.has(reading.minute) || !hours.has(reading.hour) || !months.has(reading.month)) return false;
    const byDay = daysOfMonth.has(reading.day);
    const byWeekday = weekdays.has(reading.weekday);
    if (!this.anyDayOfMonth && !this.anyWeekday) return byDay || byWeekday;
    return byDay && byWeekday;
  }
}

function expand(field: string, min: number, max: number): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const [base = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let [from, to] = [min, max];
    if (base !== '*') {
      const [a, b] = base.split('-').map(Number) as [number, number | undefined];
      from = a;
      to = b ?? (stepText === undefined ? a : max);
    }
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return values;
}

/**
 * The ticks of `cron` in `timeZone` in (from, to], by the README's rule, walking every minute of
 * the clock from a day before `from` (so that a reading's earlier occurrence is known).
 * Returns undefined when the zone's offset is not whole minutes there (the walk needs that).
 */
export function referenceTicks(cron: PlainCron, timeZone: string, from: number, to: number): number[] | undefined {
  const ticks = new Set<number>();
  const seen = new Set<number>();
  let previous: Reading | undefined;
  for (let instant = Math.floor((from - 26 * HOUR) / MINUTE) * MINUTE; instant <= to; instant += MINUTE) {
    const reading = readingAt(instant, timeZone);
    if (reading.second !== 0) return undefined;
    const counts = (tick: number) => tick > from && tick <= to;
    if (cron.wildcardHour) {
      // Whenever the clock shows a matching time.
      if (cron.matches(reading) && counts(instant)) ticks.add(instant);
    } else {
      // Readings the clock jumped over run once, shifted forward by the jump.
      if (previous && reading.local - previous.local > MINUTE) {
        for (let skipped = previous.local + MINUTE; skipped < reading.local; skipped += MINUTE) {
          const shifted = instant - MINUTE + (skipped - previous.local);
          if (!seen.has(skipped) && cron.matches(readingFromLocal(skipped)) && counts(shifted)) ticks.add(shifted);
        }
      }
      // A reading the clock shows again runs only the first time.
      if (cron.matches(reading) && !seen.has(reading.local) && counts(instant)) ticks.add(instant);
    }
    seen.add(reading.local);
    previous = reading;
  }
  return [...ticks].sort((a, b) => a - b);
}

function readingFromLocal(local: number): Reading {
  const date = new Date(local);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    weekday: date.getUTCDay(),
    local,
  };
}

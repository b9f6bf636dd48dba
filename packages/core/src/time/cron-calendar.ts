import { CronExpressionParser } from 'cron-parser';

/**
 * Which wall-clock date-times a cron expression matches, with no time zone in sight.
 *
 * A wall-clock reading is written as a "local ms": the epoch ms that reading would have in UTC
 * (`Date.UTC(y, m - 1, d, h, min, s)`), so calendar arithmetic needs no zone. cron-parser reads the
 * syntax (fields, names, aliases, `L`, `#`) and this class searches it: cron-parser's own search
 * steps through a zone with Luxon and takes 5-50 ms per tick for a cron that fires every few years,
 * and its handling of DST gaps is not the rule Drumline promises (see `cron-ticks.ts`).
 * The day rule is cron-parser's, so that both agree on every calendar (tested against it in UTC).
 */
export class CronCalendar {
  private readonly seconds: readonly number[];
  private readonly minutes: readonly number[];
  private readonly hours: readonly number[];
  private readonly months: ReadonlySet<number>;
  private readonly daysOfMonth: ReadonlySet<number>;
  private readonly lastDayOfMonth: boolean;
  private readonly anyDayOfMonth: boolean;
  private readonly weekdays: ReadonlySet<number>;
  /** Weekdays given as `<d>L`: the last such weekday of the month. */
  private readonly lastWeekdays: ReadonlySet<number>;
  /** From `<d>#<n>`: only the nth such weekday of the month (0: no constraint). */
  private readonly nthWeekday: number;
  private readonly anyWeekday: boolean;
  /** The last answer of `nextAfter`: rare crons are asked the same question many times. */
  private memo = { after: Number.NaN, next: null as number | null };

  /** The hour field is `*`, or `*` with a step: such entries follow the clock through DST changes (see `cron-ticks.ts`). */
  readonly wildcardHour: boolean;

  /** @throws Error with cron-parser's message when the syntax is wrong. */
  constructor(readonly expression: string) {
    const parsed = CronExpressionParser.parse(expression, { tz: 'UTC' });
    const { second, minute, hour, dayOfMonth, month, dayOfWeek } = parsed.fields;
    const numbers = (values: readonly (number | string)[]) => values.filter((value): value is number => typeof value === 'number');
    this.seconds = [...numbers(second.values)].sort((a, b) => a - b);
    this.minutes = [...numbers(minute.values)].sort((a, b) => a - b);
    this.hours = [...numbers(hour.values)].sort((a, b) => a - b);
    this.months = new Set(numbers(month.values));
    this.daysOfMonth = new Set(numbers(dayOfMonth.values));
    this.lastDayOfMonth = dayOfMonth.hasLastChar;
    this.anyDayOfMonth = dayOfMonth.isWildcard;
    this.weekdays = new Set(numbers(dayOfWeek.values).map((day) => day % 7));
    const written = dayOfWeek.values.map(String);
    this.lastWeekdays = new Set(written.filter((value) => /^\dL$/.test(value)).map((value) => Number(value.charAt(0)) % 7));
    this.nthWeekday = dayOfWeek.nthDay;
    this.anyWeekday = dayOfWeek.isWildcard;
    this.wildcardHour = rawHourField(expression, parsed.stringify(true)).startsWith('*');
  }

  /** Whether the cron fires on this calendar day (month 1-12). */
  matchesDay(year: number, month: number, day: number): boolean {
    if (!this.months.has(month)) return false;
    const lastDay = daysInMonth(year, month);
    const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
    const byMonthDay = this.daysOfMonth.has(day) || (this.lastDayOfMonth && day === lastDay);
    const byWeekday =
      (this.weekdays.has(weekday) && (this.nthWeekday <= 0 || Math.ceil(day / 7) === this.nthWeekday)) ||
      (this.lastWeekdays.has(weekday) && day > lastDay - 7);
    // cron-parser's rule (as Vixie cron's): both fields restricted means either may match.
    if (!this.anyDayOfMonth && !this.anyWeekday) return byMonthDay || byWeekday;
    if (!this.anyWeekday) return byWeekday;
    return byMonthDay;
  }

  /**
   * The first matching wall-clock reading strictly after `afterLocal`, or null when there is none
   * within 400 years. The Gregorian calendar repeats every 400 years, so null means never.
   */
  nextAfter(afterLocal: number): number | null {
    if (afterLocal >= this.memo.after && (this.memo.next === null || afterLocal < this.memo.next)) return this.memo.next;
    const next = this.search(afterLocal);
    this.memo = { after: afterLocal, next };
    return next;
  }

  private search(afterLocal: number): number | null {
    const start = new Date((Math.floor(afterLocal / 1000) + 1) * 1000);
    let year = start.getUTCFullYear();
    let month = start.getUTCMonth() + 1;
    let day = start.getUTCDate();
    let from: [number, number, number] | null = [start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds()];
    const lastYear = year + 400;
    while (year <= lastYear) {
      if (!this.months.has(month)) {
        [year, month] = month === 12 ? [year + 1, 1] : [year, month + 1];
        day = 1;
        from = null;
        continue;
      }
      if (this.matchesDay(year, month, day)) {
        const time = this.firstTimeOfDay(from);
        if (time) return Date.UTC(year, month - 1, day, time[0], time[1], time[2]);
      }
      from = null;
      if (day < daysInMonth(year, month)) day += 1;
      else {
        [year, month] = month === 12 ? [year + 1, 1] : [year, month + 1];
        day = 1;
      }
    }
    return null;
  }

  /** The first matching time of a day at or after `from` (the whole day when null). */
  private firstTimeOfDay(from: [number, number, number] | null): [number, number, number] | null {
    const first = (values: readonly number[]) => values[0] as number;
    if (!from) return [first(this.hours), first(this.minutes), first(this.seconds)];
    const [fromHour, fromMinute, fromSecond] = from;
    for (const hour of this.hours) {
      if (hour < fromHour) continue;
      if (hour > fromHour) return [hour, first(this.minutes), first(this.seconds)];
      for (const minute of this.minutes) {
        if (minute < fromMinute) continue;
        if (minute > fromMinute) return [hour, minute, first(this.seconds)];
        const second = this.seconds.find((value) => value >= fromSecond);
        if (second !== undefined) return [hour, minute, second];
      }
    }
    return null;
  }
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The hour field as written; for an alias (`@hourly`), as cron-parser expands it. */
function rawHourField(expression: string, expanded: string): string {
  const written = expression.trim();
  const fields = (written.startsWith('@') ? expanded : written).split(/\s+/);
  return (fields.length === 6 ? fields[2] : fields[1]) ?? '';
}

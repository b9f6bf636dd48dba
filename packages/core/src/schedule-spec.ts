import ms from 'ms';
import { Temporal } from 'temporal-polyfill';
import { InvalidTimingError, JobDefinitionError } from './errors/index.js';
import { CronCalendar } from './time/cron-calendar.js';
import { cronSyntaxProblem } from './time/cron-syntax.js';
import { CronTicks } from './time/cron-ticks.js';
import { ZoneTimeline } from './time/zone-timeline.js';
import { isScheduleId, SCHEDULE_ID_RULE } from './ids.js';

/** What to do with ticks that passed while no scheduler (or no worker) was alive. */
export type MisfirePolicy = 'skip' | 'once' | 'all';
/** What to do with a tick whose previous run of the same schedule is still going. */
export type OverlapPolicy = 'allow' | 'skip' | 'queue';

/** When a schedule fires: a cron expression in an IANA zone, a fixed interval, or once. */
export type ScheduleTiming =
  | { cron: string; tz?: string }
  | { every: number | string }
  /** An ISO 8601 instant (with Z or an offset), a Date, or a local date-time read in `tz`. */
  | { at: string | Date; tz?: string };

export interface SchedulePolicies {
  /** Missed ticks after downtime: `skip` drops them, `once` (default) runs one, `all` runs each up to `misfireCap`. */
  misfire?: MisfirePolicy;
  /** Upper bound of catch-up runs with `misfire: 'all'` (default 100). */
  misfireCap?: number;
  /** Ticks older than this many ms are never caught up, whatever the misfire policy. */
  misfireGraceMs?: number;
  /** `allow` (default), `skip` a tick while the previous run is active, or `queue` runs one after another. */
  overlap?: OverlapPolicy;
  /**
   * Spread the runs: each tick's run is due a fixed offset in [0, jitterMs) after the tick, derived
   * from the schedule id and the tick (0-30000, default 0). The run id stays the tick's.
   */
  jitterMs?: number;
}

/** A schedule declared next to its job in code. `id` must be stable: it keys the schedule's state. */
export type ScheduleDeclaration<Data = unknown> = ScheduleTiming &
  SchedulePolicies & {
    id: string;
    data?: Data;
  };

/** A schedule's timing in normalized form, as stored in Redis and served by the API. */
export type NormalizedTiming =
  | { kind: 'cron'; cron: string; tz: string }
  | { kind: 'every'; everyMs: number }
  | { kind: 'at'; atMs: number };

export function assertScheduleId(id: string, owner: string): void {
  if (!isScheduleId(id)) throw new JobDefinitionError(`${owner}: schedule id \`${id}\` must be ${SCHEDULE_ID_RULE}`);
}

/**
 * One compiled engine per cron + zone. A deployment has a few hundred distinct values but asks
 * them tens of thousands of times. Bounded, because API bodies can carry any string.
 */
class BoundedMemo<V extends NonNullable<unknown>> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(key: string, compute: () => V): V {
    const known = this.entries.get(key);
    if (known !== undefined) return known;
    const value = compute();
    if (this.entries.size >= this.capacity) this.entries.clear();
    this.entries.set(key, value);
    return value;
  }
}

const MEMO_CAPACITY = 10_000;
/** A calendar knows no zone, so one serves every zone; constructing it is the costly part of a check. */
const calendars = new BoundedMemo<CronCalendar>(MEMO_CAPACITY);
const calendarOf = (cron: string) => calendars.get(cron, () => new CronCalendar(cron));
const cronEngines = new BoundedMemo<CronTicks>(MEMO_CAPACITY);
const cronTicksOf = (cron: string, tz: string) => cronEngines.get(`${tz} ${cron}`, () => new CronTicks(calendarOf(cron), ZoneTimeline.of(tz)));

/** Time zones are checked by Temporal, the same code that computes their offsets. */
function checkedTimeZone(tz: string, owner: string): string {
  try {
    ZoneTimeline.of(tz);
    return tz;
  } catch {
    throw new InvalidTimingError('tz', `${owner}: time zone \`${tz}\` is not an IANA zone name (for example Europe/Berlin)`);
  }
}

export function assertTimeZone(tz: string, owner: string): void {
  checkedTimeZone(tz, owner);
}

/** The longest `every`: a year, so that a schedule's next runs stay printable dates. */
export const MAX_EVERY_MS = ms('1y');
/** `at` must fall in years 1970-9999, the years an ISO 8601 date can print. */
const LAST_AT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
const ISO_LOCAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$/i;

/** ms() throws on '' and on non-strings (a JSON body may carry any type); treat those as unparsable. */
function durationMs(every: string): number | undefined {
  try {
    return ms(every as ms.StringValue);
  } catch {
    return undefined;
  }
}

function parseEvery(every: number | string, owner: string): number {
  const value = typeof every === 'number' ? every : durationMs(every);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1000 || value > MAX_EVERY_MS || !Number.isInteger(value)) {
    throw new InvalidTimingError(
      'every',
      `${owner}: every \`${String(every)}\` must be a whole number of ms from 1000 to ${MAX_EVERY_MS} (a year), or a duration such as '30s', '30m' or '2h'`,
    );
  }
  return value;
}

function parseAt(at: string | Date, tz: string | undefined, owner: string): number {
  const fail = (why: string): never => {
    throw new InvalidTimingError('at', `${owner}: at \`${String(at)}\` ${why}`);
  };
  let atMs: number;
  if (at instanceof Date) {
    if (tz !== undefined) fail('is a Date, an instant already: leave out `tz`');
    atMs = at.getTime();
  } else if (typeof at === 'string' && ISO_INSTANT.test(at)) {
    if (tz !== undefined) fail('has its own offset: leave out `tz`, or leave out the offset to read it in `tz`');
    atMs = Date.parse(at);
  } else if (typeof at === 'string' && ISO_LOCAL.test(at)) {
    if (tz === undefined) fail('has no offset: end it with Z or an offset such as +01:00, or give `tz` to read it in that zone');
    try {
      atMs = Temporal.PlainDateTime.from(at).toZonedDateTime(checkedTimeZone(tz as string, owner), { disambiguation: 'compatible' }).epochMilliseconds;
    } catch (error) {
      if (error instanceof InvalidTimingError) throw error;
      atMs = Number.NaN;
    }
  } else {
    atMs = fail('is not a date in ISO 8601 (for example 2026-12-01T09:00:00Z)');
  }
  if (!Number.isFinite(atMs)) fail('is not a date (use ISO 8601, for example 2026-12-01T09:00:00Z)');
  if (atMs < 0 || atMs > LAST_AT_MS) fail('must fall in the years 1970-9999');
  return atMs;
}

function checkedCron(cron: string, owner: string): string {
  const fail = (why: string): never => {
    throw new InvalidTimingError('cron', `${owner}: cron \`${cron}\` is invalid: ${why}`);
  };
  if (typeof cron !== 'string') fail('it is not a string');
  const problem = cronSyntaxProblem(cron);
  if (problem) fail(problem);
  let calendar: CronCalendar | undefined;
  try {
    calendar = calendarOf(cron);
  } catch (error) {
    fail((error as Error).message);
  }
  if (calendar?.nextAfter(0) === null) fail('it never fires (no date matches it, as with 30 February)');
  return cron;
}

/** Checks a declared timing and returns it normalized; throws an InvalidTimingError naming `owner` and the field at fault. */
export function normalizeTiming(timing: ScheduleTiming, owner: string): NormalizedTiming {
  const kinds = (['cron', 'every', 'at'] as const).filter((kind) => kind in timing && (timing as Record<string, unknown>)[kind] !== undefined);
  if (kinds.length !== 1) {
    throw new InvalidTimingError(kinds[0] ?? 'cron', `${owner}: a schedule needs exactly one of \`cron\`, \`every\` or \`at\` (found ${kinds.length ? kinds.join(', ') : 'none'})`);
  }
  const tz = (timing as { tz?: unknown }).tz;
  if (tz !== undefined && typeof tz !== 'string') throw new InvalidTimingError('tz', `${owner}: tz must be a string such as Europe/Berlin`);
  if ('cron' in timing && timing.cron !== undefined) {
    const zone = checkedTimeZone(timing.tz ?? 'UTC', owner);
    return { kind: 'cron', cron: checkedCron(timing.cron, owner), tz: zone };
  }
  if ('every' in timing && timing.every !== undefined) {
    if (tz !== undefined) throw new InvalidTimingError('tz', `${owner}: tz applies to cron and at only: every counts real time, the same in every zone`);
    return { kind: 'every', everyMs: parseEvery(timing.every, owner) };
  }
  return { kind: 'at', atMs: parseAt((timing as { at: string | Date }).at, tz, owner) };
}

/**
 * The nominal tick times strictly after `afterMs`, at most `limit` of them and none after `untilMs`.
 * `every` ticks are aligned to the Unix epoch, so every replica computes the same grid.
 */
export function ticksAfter(timing: NormalizedTiming, afterMs: number, limit: number, untilMs = Number.POSITIVE_INFINITY): number[] {
  const ticks: number[] = [];
  if (timing.kind === 'at') {
    if (timing.atMs > afterMs && timing.atMs <= untilMs && limit > 0) ticks.push(timing.atMs);
    return ticks;
  }
  if (timing.kind === 'every') {
    let next = (Math.floor(afterMs / timing.everyMs) + 1) * timing.everyMs;
    while (ticks.length < limit && next <= untilMs) {
      ticks.push(next);
      next += timing.everyMs;
    }
    return ticks;
  }
  return cronTicksOf(timing.cron, timing.tz).after(afterMs, limit, untilMs);
}

import { CronExpressionParser, type CronExpression } from 'cron-parser';
import ms from 'ms';
import { JobDefinitionError } from './errors/index.js';
import { isScheduleId, SCHEDULE_ID_RULE } from './ids.js';

/** What to do with ticks that passed while no scheduler (or no worker) was alive. */
export type MisfirePolicy = 'skip' | 'once' | 'all';
/** What to do with a tick whose previous run of the same schedule is still going. */
export type OverlapPolicy = 'allow' | 'skip' | 'queue';

/** When a schedule fires: a cron expression in an IANA zone, a fixed interval, or once. */
export type ScheduleTiming =
  | { cron: string; tz?: string }
  | { every: number | string }
  | { at: string | Date };

export interface SchedulePolicies {
  /** Missed ticks after downtime: `skip` drops them, `once` (default) runs one, `all` runs each up to `misfireCap`. */
  misfire?: MisfirePolicy;
  /** Upper bound of catch-up runs with `misfire: 'all'` (default 100). */
  misfireCap?: number;
  /** Ticks older than this many ms are never caught up, whatever the misfire policy. */
  misfireGraceMs?: number;
  /** `allow` (default), `skip` a tick while the previous run is active, or `queue` runs one after another. */
  overlap?: OverlapPolicy;
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
 * Results by zone and by cron + zone. A deployment has a few hundred distinct values but checks
 * them tens of thousands of times, and each check builds an Intl.DateTimeFormat (a cron parse
 * builds another). Bounded, because API bodies can carry any string.
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
const zoneIsValid = new BoundedMemo<boolean>(MEMO_CAPACITY);
/** One parsed expression per cron + zone, reset to each start time: parsing is the costly part. A cron that fails to parse is not kept. */
const parsedCrons = new BoundedMemo<CronExpression>(MEMO_CAPACITY);
const parsedCron = (cron: string, tz: string) => parsedCrons.get(`${tz} ${cron}`, () => CronExpressionParser.parse(cron, { tz }));

export function assertTimeZone(tz: string, owner: string): void {
  const valid = zoneIsValid.get(tz, () => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  });
  if (!valid) throw new JobDefinitionError(`${owner}: time zone \`${tz}\` is not an IANA zone name (for example Europe/Berlin)`);
}

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
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1000 || !Number.isInteger(value)) {
    throw new JobDefinitionError(
      `${owner}: every \`${String(every)}\` must be a whole number of ms of at least 1000, or a duration such as '30s', '30m' or '2h'`,
    );
  }
  return value;
}

/** Checks a declared timing and returns it normalized; throws a JobDefinitionError naming `owner`. */
export function normalizeTiming(timing: ScheduleTiming, owner: string): NormalizedTiming {
  const kinds = (['cron', 'every', 'at'] as const).filter((kind) => kind in timing && (timing as Record<string, unknown>)[kind] !== undefined);
  if (kinds.length !== 1) {
    throw new JobDefinitionError(`${owner}: a schedule needs exactly one of \`cron\`, \`every\` or \`at\` (found ${kinds.length ? kinds.join(', ') : 'none'})`);
  }
  if ('cron' in timing && timing.cron !== undefined) {
    const tz = timing.tz ?? 'UTC';
    assertTimeZone(tz, owner);
    // cron-parser reads a short expression as if the leading fields were left out, so '0 3 * *'
    // (a field forgotten from '0 3 * * *') would silently fire every minute of hour 0 on the 3rd.
    const fields = timing.cron.trim().split(/\s+/);
    if (!timing.cron.trim().startsWith('@') && fields.length !== 5 && fields.length !== 6) {
      throw new JobDefinitionError(
        `${owner}: cron \`${timing.cron}\` is invalid: it has ${fields.length} fields; write 5 (minute hour day-of-month month day-of-week), or 6 with seconds first`,
      );
    }
    try {
      parsedCron(timing.cron, tz);
    } catch (error) {
      throw new JobDefinitionError(`${owner}: cron \`${timing.cron}\` is invalid: ${(error as Error).message}`);
    }
    return { kind: 'cron', cron: timing.cron, tz };
  }
  if ('every' in timing && timing.every !== undefined) {
    return { kind: 'every', everyMs: parseEvery(timing.every, owner) };
  }
  const at = (timing as { at: string | Date }).at;
  const atMs = at instanceof Date ? at.getTime() : Date.parse(at);
  if (!Number.isFinite(atMs)) {
    throw new JobDefinitionError(`${owner}: at \`${String(at)}\` is not a date (use ISO 8601, for example 2026-12-01T09:00:00Z)`);
  }
  return { kind: 'at', atMs };
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
  // cron-parser follows Vixie cron across DST changes; see "Time zones and DST" in the README.
  const cron = parsedCron(timing.cron, timing.tz);
  cron.reset(new Date(afterMs));
  while (ticks.length < limit && cron.hasNext()) {
    const next = cron.next().getTime();
    if (next > untilMs) break;
    ticks.push(next);
  }
  return ticks;
}

import type { CronCalendar } from './cron-calendar.js';
import type { OffsetSpan, ZoneTimeline } from './zone-timeline.js';

const HOUR = 3_600_000;

/**
 * The instants at which a cron fires in a zone. The rule (README, "Time zones and DST"):
 * - A matching wall-clock time runs at its first occurrence: once, on a day the clock shows it twice.
 * - A matching wall-clock time that the clock skips runs once, shifted forward by the skip (it is read
 *   with the offset in force before the change): Temporal's `disambiguation: 'compatible'`.
 * - An entry whose hour is `*` or `*\/n` instead runs whenever the clock shows a matching time: twice
 *   in a repeated hour, never in a skipped one, so it keeps its pace in real time.
 *
 * These define one set of instants, whatever instant a search starts from; each instant belongs to
 * the offset span it falls in, and a search walks spans in order. So the ticks after t are the
 * ticks after any earlier s with those up to t removed, which is what lets the scheduler resume
 * from a cursor, a restart or a failover without losing or repeating a tick.
 */
export class CronTicks {
  /** The last open-ended answer: the API asks for the next runs of every schedule on each listing. */
  private known: { after: number; ticks: number[]; complete: boolean } | undefined;

  /** `skipSpans: false` visits every span: the slow way, kept to test the skipping against. */
  constructor(
    private readonly calendar: CronCalendar,
    private readonly timeline: ZoneTimeline,
    private readonly options: { skipSpans: boolean } = { skipSpans: true },
  ) {}

  /** The ticks strictly after `after`, at most `limit`, none after `until`, in order. */
  after(after: number, limit: number, until = Number.POSITIVE_INFINITY): number[] {
    if (limit <= 0 || until <= after) return [];
    const known = this.known;
    if (known && after >= known.after) {
      const rest = known.ticks.filter((tick) => tick > after);
      if (rest.length >= limit || known.complete) return rest.slice(0, limit).filter((tick) => tick <= until);
    }
    const ticks = this.search(after, limit, until);
    if (until === Number.POSITIVE_INFINITY && limit <= 16) this.known = { after, ticks, complete: ticks.length < limit };
    return ticks;
  }

  private search(after: number, limit: number, until: number): number[] {
    const ticks: number[] = [];
    for (let span: OffsetSpan | undefined = this.timeline.spanAt(after + 1); span && ticks.length < limit; ) {
      const from = Math.max(after + 1, span.start);
      const to = Math.min(span.end, until + 1);
      const found: number[] = from < to ? this.inSpan(span, from, to, limit - ticks.length) : [];
      ticks.push(...found);
      if (span.end > until) break;
      span = found.length > 0 ? this.timeline.after(span) : this.nextSpanWorthVisiting(span, from);
    }
    return ticks;
  }

  /**
   * A cron that fires every few years would otherwise visit every DST span in between. When a span
   * has no tick, the calendar's next match `next` bounds the rest: a span starting 26 h or more after
   * this span's search shows only readings at or above those searched (offsets lie within
   * -12 h..+14 h), and one ending 15 h before `next` shows only readings below `next`. No such span
   * can hold a tick, so the search goes straight to the span 15 h before `next`.
   */
  private nextSpanWorthVisiting(span: OffsetSpan, from: number): OffsetSpan | undefined {
    const next = this.calendar.nextAfter(from + span.offsetMs - 1);
    if (next === null) return undefined;
    const target = next - 15 * HOUR;
    // The following span starts where this one ends.
    if (!this.options.skipSpans || span.end < from + 26 * HOUR || target <= span.end) return this.timeline.after(span);
    return this.timeline.spanAt(target);
  }

  /** The ticks in [from, to), a part of `span`, in order. */
  private inSpan(span: OffsetSpan, from: number, to: number, limit: number): number[] {
    const { calendar, timeline } = this;
    const offset = span.offsetMs;
    const found: number[] = [];
    for (let local = calendar.nextAfter(from + offset - 1); local !== null && local - offset < to && found.length < limit; local = calendar.nextAfter(local)) {
      if (calendar.wildcardHour || !timeline.showedBefore(local, span)) found.push(local - offset);
    }
    const shifted = calendar.wildcardHour ? [] : this.skippedInto(span, from, to);
    if (shifted.length === 0) return found;
    return [...new Set([...found, ...shifted])].sort((a, b) => a - b).slice(0, limit);
  }

  /** Matching readings the clock skipped when `span` began, shifted forward by the skip, within [from, to). */
  private skippedInto(span: OffsetSpan, from: number, to: number): number[] {
    const before = this.timeline.before(span);
    if (!before || before.offsetMs >= span.offsetMs) return [];
    const skippedEnd = span.start + span.offsetMs;
    if (from >= skippedEnd - before.offsetMs) return [];
    const shifted: number[] = [];
    for (let local = this.calendar.nextAfter(span.start + before.offsetMs - 1); local !== null && local < skippedEnd; local = this.calendar.nextAfter(local)) {
      const instant = local - before.offsetMs;
      if (instant >= from && instant < to && !this.timeline.showedBefore(local, span)) shifted.push(instant);
    }
    return shifted;
  }
}

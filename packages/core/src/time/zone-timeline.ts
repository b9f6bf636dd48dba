import { Temporal } from 'temporal-polyfill';

/** A stretch of time in which a zone's UTC offset does not change: instants in [start, end). */
export interface OffsetSpan {
  readonly start: number;
  readonly end: number;
  /** Local reading minus UTC, in ms. */
  readonly offsetMs: number;
}

const DAY_MS = 86_400_000;
const LOOKBACK_MS = 7 * DAY_MS;
/** How far from an instant its span's ends are looked for. */
const SEARCH_MS = 20 * DAY_MS;
const SAMPLE_MS = 5 * DAY_MS;

/**
 * A time zone's offsets as spans, found with Temporal and kept: every schedule in a zone shares them.
 */
export class ZoneTimeline {
  private static readonly timelines = new Map<string, ZoneTimeline>();
  /** Known spans, sorted by start and never overlapping. */
  private readonly spans: OffsetSpan[] = [];
  private readonly highestReadings = new WeakMap<OffsetSpan, number>();

  private readonly offsetNames: Intl.DateTimeFormat;

  private constructor(readonly timeZone: string) {
    this.offsetNames = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
  }

  /** One timeline per zone, shared. @throws RangeError for a zone that Temporal does not know. */
  static of(timeZone: string): ZoneTimeline {
    let timeline = ZoneTimeline.timelines.get(timeZone);
    if (!timeline) {
      Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(timeZone);
      timeline = new ZoneTimeline(timeZone);
      ZoneTimeline.timelines.set(timeZone, timeline);
    }
    return timeline;
  }

  /**
   * The span holding `instant`. Its ends are the zone's transitions when they are near, else
   * points a few weeks away where the offset goes on unchanged: asking Temporal for the previous
   * transition of a zone that has had none for decades (Asia/Kolkata) scans those decades, about
   * 100 ms. A span with the same offset on both sides changes nothing in the rule.
   */
  spanAt(instant: number): OffsetSpan {
    const known = this.find(instant);
    if (known) return known;
    const offsetMs = this.offsetAt(instant);
    const { before, after } = this.neighbours(instant);
    const start = this.edge(instant, offsetMs, -1, Math.max(instant - SEARCH_MS, before?.end ?? Number.NEGATIVE_INFINITY));
    const end = this.edge(instant, offsetMs, 1, Math.min(instant + SEARCH_MS, after?.start ?? Number.POSITIVE_INFINITY));
    return this.insert({ start, end, offsetMs });
  }

  /** The zone's offset at `instant`, from the tz database through Intl (a quarter of what Temporal's own lookup costs). */
  private offsetAt(instant: number): number {
    const name = this.offsetNames.formatToParts(instant).find((part) => part.type === 'timeZoneName')?.value ?? '';
    const match = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name);
    if (!match) throw new RangeError(`time zone ${this.timeZone}: cannot read the offset \`${name}\``);
    const [, sign, hours = '0', minutes = '0', seconds = '0'] = match;
    return (sign === '-' ? -1 : 1) * ((Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
  }

  /**
   * Where the offset `offsetMs` (in force at `instant`) stops, going in `direction` (forward: the
   * first ms of the next offset; back: the first ms of this one), or `bound` when it holds that far.
   * Sampled every few days (Temporal's own offsets assume no two transitions within 19 days).
   */
  private edge(instant: number, offsetMs: number, direction: 1 | -1, bound: number): number {
    for (let inside = instant; inside !== bound; ) {
      const probe = direction > 0 ? Math.min(inside + SAMPLE_MS, bound) : Math.max(inside - SAMPLE_MS, bound);
      if (this.offsetAt(probe) !== offsetMs) {
        // The offset changes between `inside` and `probe`: bisect to the first ms of the other one.
        let [same, other] = [inside, probe];
        while (Math.abs(other - same) > 1) {
          const middle = Math.floor((same + other) / 2);
          if (this.offsetAt(middle) === offsetMs) same = middle;
          else other = middle;
        }
        return direction > 0 ? other : same;
      }
      inside = probe;
    }
    return bound;
  }

  /** The known spans just before and just after `instant`, which a new span must not overlap. */
  private neighbours(instant: number): { before: OffsetSpan | undefined; after: OffsetSpan | undefined } {
    let index = this.spans.length;
    while (index > 0 && (this.spans[index - 1] as OffsetSpan).start > instant) index -= 1;
    return { before: this.spans[index - 1], after: this.spans[index] };
  }

  /** The span after `span`. */
  after(span: OffsetSpan): OffsetSpan {
    return this.spanAt(span.end);
  }

  /** The span before `span`. */
  before(span: OffsetSpan): OffsetSpan {
    return this.spanAt(span.start - 1);
  }

  /**
   * Whether the clock showed the reading `local` at some instant before `span` began. Only the
   * last week is searched: no zone has ever turned its clock back by more than a day.
   */
  showedBefore(local: number, span: OffsetSpan): boolean {
    if (local >= this.highestReadingBefore(span)) return false;
    for (const earlier of this.weekBefore(span)) {
      const instant = local - earlier.offsetMs;
      if (instant >= earlier.start && instant < earlier.end) return true;
    }
    return false;
  }

  /** The highest reading the clock showed in the week before `span`: readings at or above it are new. */
  private highestReadingBefore(span: OffsetSpan): number {
    let highest = this.highestReadings.get(span);
    if (highest === undefined) {
      highest = Number.NEGATIVE_INFINITY;
      for (const earlier of this.weekBefore(span)) highest = Math.max(highest, earlier.end + earlier.offsetMs);
      this.highestReadings.set(span, highest);
    }
    return highest;
  }

  /** The spans that overlap the week before `span`, latest first; none is looked up beyond it. */
  private *weekBefore(span: OffsetSpan): Generator<OffsetSpan> {
    const limit = span.start - LOOKBACK_MS;
    for (let earlier: OffsetSpan | undefined = this.before(span); earlier && earlier.end > limit; earlier = earlier.start > limit ? this.before(earlier) : undefined) {
      yield earlier;
    }
  }

  private find(instant: number): OffsetSpan | undefined {
    let low = 0;
    let high = this.spans.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const span = this.spans[middle] as OffsetSpan;
      if (instant < span.start) high = middle - 1;
      else if (instant >= span.end) low = middle + 1;
      else return span;
    }
    return undefined;
  }

  private insert(span: OffsetSpan): OffsetSpan {
    let index = this.spans.length;
    while (index > 0 && (this.spans[index - 1] as OffsetSpan).start > span.start) index -= 1;
    this.spans.splice(index, 0, span);
    return span;
  }
}

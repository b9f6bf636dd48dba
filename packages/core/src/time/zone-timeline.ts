import { Temporal } from 'temporal-polyfill';

/** A stretch of time in which a zone's UTC offset does not change: instants in [start, end). */
export interface OffsetSpan {
  readonly start: number;
  readonly end: number;
  /** Local reading minus UTC, in ms. */
  readonly offsetMs: number;
}

const LOOKBACK_MS = 7 * 86_400_000;

/**
 * A time zone's offsets as spans between its transitions, found with Temporal and kept: a zone has
 * two transitions a year at most, and every schedule in that zone shares them.
 */
export class ZoneTimeline {
  private static readonly timelines = new Map<string, ZoneTimeline>();
  /** Known spans, sorted by start and never overlapping. */
  private readonly spans: OffsetSpan[] = [];
  private readonly highestReadings = new WeakMap<OffsetSpan, number>();

  private constructor(readonly timeZone: string) {}

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

  /** The span holding `instant`. */
  spanAt(instant: number): OffsetSpan {
    const known = this.find(instant);
    if (known) return known;
    const zoned = (ms: number) => Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(this.timeZone);
    const here = zoned(instant);
    // Transitions fall on whole seconds: the one at or before `instant` is the last one before instant + 1 ms.
    const previous = zoned(instant + 1).getTimeZoneTransition('previous');
    const next = here.getTimeZoneTransition('next');
    return this.insert({
      start: previous ? previous.epochMilliseconds : Number.NEGATIVE_INFINITY,
      end: next ? next.epochMilliseconds : Number.POSITIVE_INFINITY,
      offsetMs: here.offsetNanoseconds / 1e6,
    });
  }

  /** The span after `span`, or undefined when `span` runs forever. */
  after(span: OffsetSpan): OffsetSpan | undefined {
    return span.end === Number.POSITIVE_INFINITY ? undefined : this.spanAt(span.end);
  }

  /** The span before `span`, or undefined when `span` has no start. */
  before(span: OffsetSpan): OffsetSpan | undefined {
    return span.start === Number.NEGATIVE_INFINITY ? undefined : this.spanAt(span.start - 1);
  }

  /**
   * Whether the clock showed the reading `local` at some instant before `span` began. Only the
   * last week is searched: no zone has ever turned its clock back by more than a day.
   */
  showedBefore(local: number, span: OffsetSpan): boolean {
    if (local >= this.highestReadingBefore(span)) return false;
    for (let earlier = this.before(span); earlier && earlier.end > span.start - LOOKBACK_MS; earlier = this.before(earlier)) {
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
      for (let earlier = this.before(span); earlier && earlier.end > span.start - LOOKBACK_MS; earlier = this.before(earlier)) {
        highest = Math.max(highest, earlier.end + earlier.offsetMs);
      }
      this.highestReadings.set(span, highest);
    }
    return highest;
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

import {
  jitterOffsetMs,
  leaderlessAround,
  MISFIRE_THRESHOLD_MS,
  readLeaderHistory,
  scheduledRunId,
  scheduleFingerprint,
  summarizeTick,
  ticksAfter,
  UnknownScheduleError,
  type Cursor,
  type LedgerTick,
  type LeaderTerm,
  type RedisConnection,
  type ScheduleRecord,
  type ScheduleStore,
  type TickLedger,
  type TickState,
  type TickSummary,
} from '@drumline/core/runtime';
import { leaderlessText, storyLines, storySummary, type StoryLine } from './tick-story.js';

/** A tick as the API lists it. */
export interface TickView extends TickSummary {
  /** The run's id in the jobs API and Bull Board; null when no run was made for the tick. */
  readonly runId: string | null;
}

export interface TickPage {
  readonly ticks: TickView[];
  /** Counts of each state over the whole range asked for, not only this page. */
  readonly counts: Record<'ran' | 'failed' | 'skipped' | 'missed' | 'pending', number>;
  readonly nextBefore: number | null;
}

export interface TickStory extends TickView {
  readonly summary: string;
  readonly events: StoryLine[];
}

/** The most ticks one request reads from a ledger (its retention keeps 1000 by default). */
const MAX_READ = 100_000;
/** The most unrecorded ticks a list looks for after the leader's cursor. */
const MAX_UNRECORDED = 10_000;

/**
 * A schedule's recent ticks and their stories, from its tick ledger. A tick the leader should have
 * added by now and did not (no scheduler led, or the leader is behind) has no entry: it is listed as
 * missed all the same, found from the schedule's timing after the leader's cursor, so a schedule
 * whose scheduler is gone does not go quiet.
 */
export class TickHistory {
  constructor(
    private readonly redis: RedisConnection,
    private readonly store: ScheduleStore,
    private readonly ledger: TickLedger,
  ) {}

  /**
   * Ticks in [from, to], newest first, at most `limit`; `before` continues a page (ticks before it).
   * @throws UnknownScheduleError
   */
  async list(id: string, range: { from: number; to: number; limit: number; before?: number | undefined }, now = Date.now()): Promise<TickPage> {
    const { record, cursor, paused } = await this.schedule(id);
    const kept = await this.ledger.read(id, { from: range.from, to: range.to, limit: MAX_READ });
    const byTick = new Map<number, TickView>(kept.map((entry) => [entry.tick, this.viewOf(record, entry)]));
    for (const tick of this.unrecorded(record, cursor, paused, range, now)) {
      if (!byTick.has(tick)) byTick.set(tick, { ...summarizeTick({ tick, events: [] }), state: 'missed', reason: 'not added by any scheduler', runId: null });
    }
    const all = [...byTick.values()].sort((a, b) => b.tick - a.tick);
    const counts: TickPage['counts'] = { ran: 0, failed: 0, skipped: 0, missed: 0, pending: 0 };
    for (const tick of all) counts[countOf(tick.state)] += 1;
    const before = range.before;
    const after = before === undefined ? all : all.filter((tick) => tick.tick < before);
    const ticks = after.slice(0, range.limit);
    const last = ticks[ticks.length - 1];
    return { ticks, counts, nextBefore: after.length > range.limit && last ? last.tick : null };
  }

  /**
   * One tick's story. Undefined when `tick` is not one of the schedule's ticks (by its timing now)
   * and the ledger has no record of it either.
   * @throws UnknownScheduleError
   */
  async story(id: string, tick: number, now = Date.now()): Promise<TickStory | undefined> {
    const [{ record, cursor, paused }, entry, terms] = await Promise.all([this.schedule(id), this.ledger.readTick(id, tick), readLeaderHistory(this.redis, this.ledger.keys)]);
    const dueAt = tick + jitterOffsetMs(id, tick, record.jitterMs ?? 0);
    if (entry) {
      const view = this.viewOf(record, entry);
      const events = storyLines(tick, dueAt, entry.events, terms);
      const gap = entry.events.some((event) => event.kind === 'missed' || (event.kind === 'materialized' && event.late)) ? leaderlessAround(terms, tick) : undefined;
      if (view.state === 'missed' && gap && !entry.events.some((event) => event.kind === 'skipped')) {
        return { ...view, reason: leaderlessText(gap, tick), summary: `missed: ${leaderlessText(gap, tick)}; its misfire policy (${record.misfire}) dropped it`, events };
      }
      return { ...view, summary: `${storySummary(view, events)}${gap ? ` (caught up: ${leaderlessText(gap, tick)})` : ''}`, events };
    }
    if (ticksAfter(record.timing, tick - 1, 1)[0] !== tick) return undefined;
    const empty = { ...summarizeTick({ tick, events: [] }), runId: null, events: [] };
    if (tick > now - MISFIRE_THRESHOLD_MS) return { ...empty, state: 'pending', summary: `pending: due at ${new Date(dueAt).toISOString()}, not added yet` };
    const gap = leaderlessAround(terms, tick);
    const materializedUpTo = cursor && !paused && cursor.fingerprint === scheduleFingerprint(record) ? cursor.upTo : undefined;
    if (gap) return { ...empty, state: 'missed', reason: leaderlessText(gap, tick), summary: `missed: ${leaderlessText(gap, tick)}` };
    if (materializedUpTo !== undefined && tick > materializedUpTo) {
      return { ...empty, state: 'missed', reason: 'not added by the leader', summary: `missed: ${leaderNote(terms, tick)} had added ticks only up to ${new Date(materializedUpTo).toISOString()}` };
    }
    return {
      ...empty,
      state: 'missed',
      reason: 'no record',
      summary: `no record of this tick: it is older than what the ledger keeps, or the schedule was paused, created or changed after it`,
    };
  }

  private async schedule(id: string): Promise<{ record: ScheduleRecord; cursor: Cursor | undefined; paused: boolean }> {
    const [record, cursor, paused] = await Promise.all([this.store.get(id), this.store.cursor(id), this.store.isPaused(id)]);
    if (!record) throw new UnknownScheduleError(id);
    return { record, cursor, paused };
  }

  private viewOf(record: ScheduleRecord, entry: LedgerTick): TickView {
    const summary = summarizeTick(entry, entry.tick + jitterOffsetMs(record.id, entry.tick, record.jitterMs ?? 0));
    // A tick only found missed, or whose run was taken back, has no run to look at.
    const made = entry.events.some((event) => event.kind !== 'missed' && event.kind !== 'withdrawn');
    return { ...summary, runId: made ? scheduledRunId(record.id, entry.tick) : null };
  }

  /**
   * Ticks due by now (past the misfire threshold) that the leader's cursor has not reached: no
   * scheduler added them. Only for a cursor that fits the schedule as it is and is not paused.
   */
  private unrecorded(record: ScheduleRecord, cursor: Cursor | undefined, paused: boolean, range: { from: number; to: number }, now: number): number[] {
    if (!cursor || paused || cursor.paused || cursor.fingerprint !== scheduleFingerprint(record)) return [];
    const until = Math.min(range.to, now - MISFIRE_THRESHOLD_MS);
    const after = Math.max(cursor.upTo, range.from - 1);
    if (until <= after) return [];
    try {
      return ticksAfter(record.timing, after, MAX_UNRECORDED, until);
    } catch {
      return [];
    }
  }
}

function countOf(state: TickState): keyof TickPage['counts'] {
  return state.startsWith('skipped:') ? 'skipped' : (state as keyof TickPage['counts']);
}

function leaderNote(terms: readonly LeaderTerm[], at: number): string {
  const leading = terms.find((term) => term.electedAt <= at && at <= term.lastSeenAt);
  return leading ? `the leader ${leading.replica} (term ${leading.term})` : 'the leader';
}

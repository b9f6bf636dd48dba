import {
  decodeLedgerTick,
  jitterOffsetMs,
  memberRan,
  memberTick,
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

export type TickCounts = Record<'ran' | 'failed' | 'skipped' | 'missed' | 'pending', number>;

export interface TickPage {
  readonly ticks: TickView[];
  /** Counts of each state over the whole range asked for, not only this page. */
  readonly counts: TickCounts;
  readonly nextBefore: number | null;
}

/** A schedule's latest ticks and the counts of a recent stretch, for its row on the schedules page. */
export interface RecentTicks {
  /** Newest first. */
  readonly ticks: TickView[];
  readonly counts: TickCounts;
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
    const all = this.viewsOf(record, cursor, paused, kept, range, now);
    const before = range.before;
    const after = before === undefined ? all : all.filter((tick) => tick.tick < before);
    const ticks = after.slice(0, range.limit);
    const last = ticks[ticks.length - 1];
    return { ticks, counts: countStates(all), nextBefore: after.length > range.limit && last ? last.tick : null };
  }

  /**
   * The latest `limit` ticks due by now of each of `ids` (newest first) and the counts of the last `countMs`,
   * as `list` would give them, for a page of schedules: one round trip for all their ledgers
   * beside the reads of their records, pauses and cursors. An id without a readable record is left out.
   */
  async recent(ids: string[], options: { limit: number; countMs: number }, now = Date.now()): Promise<Map<string, RecentTicks>> {
    const countFrom = now - options.countMs;
    // Ticks up to now: the leader adds runs ahead of their time, and those have no history yet.
    const top = now;
    // The counted stretch in full, and the strip's ticks before it for a schedule that ticks rarely.
    const reads = ids.flatMap((scheduleId) => [
      { scheduleId, from: countFrom, to: top, limit: MAX_READ },
      { scheduleId, from: 0, to: countFrom - 1, limit: options.limit },
    ]);
    const [raw, paused, cursors, ledgers] = await Promise.all([this.store.rawRecords(ids), this.store.pausedAmong(ids), this.store.cursorsOf(ids), this.ledger.readManyMembers(reads)]);
    const recent = new Map<string, RecentTicks>();
    for (const [index, id] of ids.entries()) {
      const record = parseRecord(raw[index]);
      if (!record) continue;
      const counted = ledgers[2 * index] ?? [];
      const older = ledgers[2 * index + 1] ?? [];
      const cursor = cursors.get(id);
      const isPaused = paused.has(id);
      // Unrecorded ticks come after every kept one, so the newest `limit` kept are all the strip can need.
      const kept = [...counted.slice(0, options.limit), ...older].map(decodeLedgerTick);
      const ticks = this.viewsOf(record, cursor, isPaused, kept, { from: countFrom, to: top }, now).slice(0, options.limit);
      const unrecorded = this.unrecorded(record, cursor, isPaused, { from: countFrom, to: top }, now);
      recent.set(id, { ticks, counts: countMembers(counted, unrecorded) });
    }
    return recent;
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
    const [record, cursor, paused] = await Promise.all([this.store.get(id), this.store.cursorsOf([id]).then((cursors) => cursors.get(id)), this.store.isPaused(id)]);
    if (!record) throw new UnknownScheduleError(id);
    return { record, cursor, paused };
  }

  /** The kept ticks and the unrecorded ones of `range`, newest first. */
  private viewsOf(record: ScheduleRecord, cursor: Cursor | undefined, paused: boolean, kept: readonly LedgerTick[], range: { from: number; to: number }, now: number): TickView[] {
    const byTick = new Map<number, TickView>(kept.map((entry) => [entry.tick, this.viewOf(record, entry)]));
    for (const tick of this.unrecorded(record, cursor, paused, range, now)) {
      if (!byTick.has(tick)) byTick.set(tick, { ...summarizeTick({ tick, events: [] }), state: 'missed', reason: 'not added by any scheduler', runId: null });
    }
    return [...byTick.values()].sort((a, b) => b.tick - a.tick);
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

function countStates(ticks: readonly TickView[]): TickCounts {
  const counts: TickCounts = { ran: 0, failed: 0, skipped: 0, missed: 0, pending: 0 };
  for (const tick of ticks) counts[countOf(tick.state)] += 1;
  return counts;
}

/**
 * The states of a stretch's kept ticks (encoded) and its unrecorded ones, as countStates would
 * give them, decoding only the ticks that did not run: a page counts a day of every schedule's.
 */
function countMembers(members: readonly string[], unrecorded: readonly number[]): TickCounts {
  const counts: TickCounts = { ran: 0, failed: 0, skipped: 0, missed: 0, pending: 0 };
  const kept = new Set<number>();
  for (const member of members) {
    kept.add(memberTick(member));
    counts[memberRan(member) ? 'ran' : countOf(summarizeTick(decodeLedgerTick(member)).state)] += 1;
  }
  for (const tick of unrecorded) if (!kept.has(tick)) counts.missed += 1;
  return counts;
}

/** A stored record, or undefined when it is gone or cannot be read (the schedule list shows it as broken). */
function parseRecord(json: string | null | undefined): ScheduleRecord | undefined {
  if (!json) return undefined;
  try {
    return JSON.parse(json) as ScheduleRecord;
  } catch {
    return undefined;
  }
}

function countOf(state: TickState): keyof TickCounts {
  return state.startsWith('skipped:') ? 'skipped' : (state as keyof TickPage['counts']);
}

function leaderNote(terms: readonly LeaderTerm[], at: number): string {
  const leading = terms.find((term) => term.electedAt <= at && at <= term.lastSeenAt);
  return leading ? `the leader ${leading.replica} (term ${leading.term})` : 'the leader';
}

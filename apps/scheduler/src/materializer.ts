import {
  jitterOffsetMs,
  jobOptionsFor,
  lastMissedTick,
  missedTicksToRun,
  scheduledRunId,
  scheduleFingerprint,
  ticksAfter,
  type Cursor,
  type JobRegistry,
  type LeaderElection,
  type Logger,
  type NormalizedTiming,
  type QueueSet,
  type ScheduleRecord,
  type ScheduleStore,
  type TickLedger,
  type TickLedgerEntry,
  type WithdrawReason,
} from '@drumline/core/runtime';
import type { Tracer } from '@opentelemetry/api';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { JobsOptions, Queue } from 'bullmq';
import { DueIndex } from './due-index.js';
import { MaterializationTrace } from './materialization-trace.js';
import { Promoter } from './promoter.js';
import { RepeatingTask } from './repeating-task.js';

/** Upper bound of upcoming ticks one schedule materializes per pass (a 1 s schedule, 15 s ahead, needs 15). */
const MAX_UPCOMING_PER_PASS = 1000;
/** Upper bound of missed ticks examined after a long downtime, so a tiny interval cannot stall a pass. */
const MAX_MISSED_SCAN = 100_000;
/**
 * Long loops over every schedule yield to the event loop this often, so that the lease renewal
 * timer fires on time however many schedules there are (a blocked loop loses its own lease).
 */
const SCHEDULES_PER_SLICE = 250;
/** API changes applied per pass: one HMGET and one SMISMEMBER for all of them, so 100,000 new schedules are in within seconds. */
const CHANGES_PER_PASS = 5000;

export interface MaterializerOptions {
  registry: JobRegistry;
  queues: QueueSet;
  store: ScheduleStore;
  election: LeaderElection;
  logger: Logger;
  lookaheadMs: number;
  pollMs: number;
  /** Each tick's runs are moved to `wait` this long before it (see Promoter). */
  promoteAheadMs: number;
  now?: () => number;
  /** Told of ticks dropped by a misfire policy (metrics, alerts). */
  onMissed?: (schedule: ScheduleRecord, ticks: number[]) => void;
  /** Told when a cron or `every` schedule has no next tick: the time engine failed it (metrics, alerts). */
  onStalled?: (schedule: ScheduleRecord, after: number) => void;
  /** With tracing on: a pass that adds runs is traced, and each run carries its span (see MaterializationTrace). */
  tracer?: Tracer | undefined;
  /** Told of every tick added, dropped as missed or withdrawn; without it nothing is recorded. */
  ledger?: TickLedger;
}

export interface PassResult {
  added: number;
  missed: number;
  withdrawn: number;
}

interface PendingAdd {
  queue: Queue;
  name: string;
  scheduleId: string;
  data: unknown;
  opts: JobsOptions & { jobId: string };
  tick: number;
  promote: boolean;
  /** A missed tick caught up by the misfire policy, not one added ahead. */
  late: boolean;
}

/** A tick the misfire policy dropped. */
interface DroppedTick {
  scheduleId: string;
  tick: number;
}

/**
 * The leader's loop: turns each schedule's ticks into delayed BullMQ jobs with deterministic ids
 * (`<scheduleId>@<tick>`) up to `lookaheadMs` ahead, then advances the schedule's cursor with a
 * fenced write. Two leaders therefore add the same ids (BullMQ keeps one), a stale leader's cursor
 * write is refused, and the worker's tick claim stops a tick re-added after retention removed it.
 */
export class Materializer {
  private readonly now: () => number;
  private readonly promoter: Promoter;
  private records = new Map<string, ScheduleRecord>();
  private paused = new Set<string>();
  private cursors = new Map<string, Cursor>();
  /** The first tick after each cursor's `upTo`: a schedule whose next tick is beyond the horizon costs nothing in a pass. */
  private readonly nextTicks = new WeakMap<Cursor, number>();
  private readonly fingerprints = new WeakMap<ScheduleRecord, string>();
  /** Each schedule's next tick after its cursor: a pass visits only those due up to its horizon. */
  private readonly due = new DueIndex();
  /** Schedules to look at in full in the next pass: changed through the API, or all of them after load. */
  private pending = new Set<string>();
  /** A quick load read only the schedules due soon: the first pass reads the rest after its own writes. */
  private restToLoad = false;
  private readonly passes: RepeatingTask;

  constructor(private readonly options: MaterializerOptions) {
    this.now = options.now ?? Date.now;
    this.promoter = new Promoter(this.now, options.promoteAheadMs, (error) => options.logger.warn({ err: error }, 'promoting a due job failed'));
    this.passes = new RepeatingTask(() => this.pass(), () => this.untilNextPass(), options.logger, 'materializer pass failed');
  }

  /**
   * Loads schedule state from Redis; call on election, after reconciliation. When a leader has
   * filed next ticks in Redis, only the schedules due up to the horizon are read now, so that the
   * first pass adds their runs without waiting for 100,000 records to be read and parsed; that
   * pass then loads the rest, which the next one looks at. Without any filed, it loads everything.
   */
  async load(): Promise<void> {
    const { store, lookaheadMs, pollMs } = this.options;
    const changed = await store.takeChanged(Number.MAX_SAFE_INTEGER);
    this.due.clear();
    this.restToLoad = false;
    const now = this.now();
    const soon = await store.dueBy(now, now + lookaheadMs + 4 * pollMs);
    if (soon.filed === 0) {
      const [records, paused, cursors] = await Promise.all([store.all(), store.pausedIds(), store.cursors()]);
      this.records = new Map(records.map((record) => [record.id, record]));
      this.paused = paused;
      this.cursors = cursors;
    } else {
      // Due soon, runs ahead to promote, or changed while no leader ran: the first pass's work.
      const ids = [...new Set([...soon.ids, ...changed])];
      const [raw, paused, cursors] = await Promise.all([store.rawRecords(ids), store.pausedAmong(ids), store.cursorsOf(ids)]);
      this.records = new Map();
      raw.forEach((json, index) => json && this.records.set(ids[index] as string, JSON.parse(json) as ScheduleRecord));
      this.paused = paused;
      this.cursors = cursors;
      this.restToLoad = true;
    }
    this.pending = new Set([...this.records.keys(), ...this.cursors.keys()]);
    await this.shareCursorSpecs([...this.cursors.keys()]);
    await this.promotePending([...this.cursors.keys()]);
  }

  /**
   * The schedules a quick load left out, read in full: those already in memory (loaded, or changed
   * through the API since) are newer than what this read finds, and are kept.
   */
  private async loadRest(): Promise<void> {
    const { store } = this.options;
    const [records, paused, cursors] = await Promise.all([store.all(), store.pausedIds(), store.cursors()]);
    const added: string[] = [];
    for (const record of records) {
      if (this.records.has(record.id)) continue;
      this.records.set(record.id, record);
      if (paused.has(record.id)) this.paused.add(record.id);
      added.push(record.id);
    }
    const addedCursors: string[] = [];
    for (const [id, cursor] of cursors) {
      if (this.cursors.has(id)) continue;
      this.cursors.set(id, cursor);
      addedCursors.push(id);
    }
    for (const id of [...added, ...addedCursors]) this.pending.add(id);
    await this.shareCursorSpecs(addedCursors);
    await this.promotePending(addedCursors);
  }

  /**
   * A stored cursor made for its schedule's current spec holds a copy of that spec: point it at the
   * record's instead, so 100,000 schedules keep one timing and one fingerprint each in memory. Its
   * `next` is taken as known, so the first pass files 100,000 schedules without a cron computation each.
   */
  private async shareCursorSpecs(ids: string[]): Promise<void> {
    let visited = 0;
    for (const id of ids) {
      if (++visited % SCHEDULES_PER_SLICE === 0) await yieldToEventLoop();
      const cursor = this.cursors.get(id);
      const record = this.records.get(id);
      if (!cursor) continue;
      const fingerprint = record && this.fingerprintOf(record);
      if (!record || cursor.fingerprint !== fingerprint) continue;
      const shared = { ...cursor, fingerprint, timing: record.timing };
      if (typeof cursor.next === 'number') this.nextTicks.set(shared, cursor.next);
      this.cursors.set(id, shared);
    }
  }

  /**
   * Arms promotion for the ticks a previous leader already added (after now, up to each cursor's
   * `upTo`): without it they would wait for BullMQ's own, later, delayed promotion.
   */
  private async promotePending(ids: string[]): Promise<void> {
    const now = this.now();
    let visited = 0;
    for (const id of ids) {
      if (++visited % SCHEDULES_PER_SLICE === 0) await yieldToEventLoop();
      const cursor = this.cursors.get(id);
      const record = this.records.get(id);
      if (!cursor || !record || record.jitterMs || cursor.paused || this.paused.has(id) || cursor.upTo <= now || cursor.fingerprint !== this.fingerprintOf(record)) continue;
      const job = this.options.registry.find(record.job);
      if (!job) continue;
      const queue = this.options.queues.queueOf(job);
      for (const tick of this.ticksOf(id, record.timing, now, MAX_UPCOMING_PER_PASS, cursor.upTo)) this.promoter.promoteFor(tick, queue, scheduledRunId(id, tick));
    }
  }

  start(): void {
    this.passes.start();
  }

  /**
   * Passes start on a grid of `pollMs` offset by half a poll: with the default 500 ms at .250 and
   * .750 of each second, away from the whole seconds where cron and most `every` ticks fall. A pass
   * adding hundreds of jobs then never delays a tick's promotion, which shares its connection.
   */
  private untilNextPass(): number {
    const { pollMs } = this.options;
    const sinceGrid = (((this.now() - pollMs / 2) % pollMs) + pollMs) % pollMs;
    return pollMs - sinceGrid;
  }

  async stop(): Promise<void> {
    // The pass in flight arms promotions as it ends: clear them after it, or they outlive stop().
    await this.passes.stop();
    this.promoter.stop();
  }

  /**
   * One pass: apply API changes, withdraw what was changed away, add the ticks now due. It looks at
   * the schedules changed since the last pass (all of them after load) and at those whose next tick
   * is within the horizon, not at every schedule.
   */
  async pass(): Promise<PassResult> {
    const result: PassResult = { added: 0, missed: 0, withdrawn: 0 };
    const { election, store, logger } = this.options;
    if (!election.isLeader) return result;
    await this.applyChanges();
    const now = this.now();
    const adds: PendingAdd[] = [];
    const dropped: DroppedTick[] = [];
    const cursorWrites: [string, string][] = [];
    const cursorDeletes: string[] = [];
    const nextTicks: [string, number, number][] = [];
    const unfiled: string[] = [];

    // Taken ids wait in `pending` until visited, so a pass that fails half-way leaves the rest to the next one.
    for (const id of this.due.takeDue(now + this.options.lookaheadMs)) this.pending.add(id);
    let visited = 0;
    for (const id of this.pending) {
      if (++visited % SCHEDULES_PER_SLICE === 0) await yieldToEventLoop();
      const record = this.records.get(id);
      const before = this.cursors.get(id);
      if (!record) {
        this.due.delete(id);
        if (before) {
          result.withdrawn += await this.withdraw(id, before, now, 'deleted');
          cursorDeletes.push(id);
          unfiled.push(id);
        }
        this.pending.delete(id);
        continue;
      }
      let cursor = before && this.isCurrent(record, before) ? before : await this.cursorFor(record, before, now, result);
      if (!cursor.paused) cursor = this.materialize(record, cursor, now, adds, dropped, result);
      const next = this.index(record, cursor);
      this.pending.delete(id);
      if (cursor === before) continue;
      // `next` of the cursor this one was copied from is stale: it is written anew, or left out.
      cursorWrites.push([record.id, JSON.stringify({ ...cursor, next: Number.isFinite(next) ? next : undefined })]);
      if (Number.isFinite(next)) nextTicks.push([record.id, next, cursor.upTo]);
      else unfiled.push(record.id);
      this.cursors.set(record.id, cursor);
    }
    for (const id of cursorDeletes) this.cursors.delete(id);

    const traced = this.options.tracer && adds.length > 0 ? MaterializationTrace.start(this.options.tracer, election.term, adds) : undefined;
    try {
      await this.addJobs(adds);
      traced?.added();
    } catch (error) {
      traced?.added(error);
      traced?.end();
      throw error;
    }
    if (cursorWrites.length > 0 || cursorDeletes.length > 0) {
      if (!(await election.writeHashFenced(store.keys.cursors, cursorWrites, cursorDeletes))) {
        logger.warn('lost the lease during a pass; the new leader continues from the stored cursors');
        traced?.end(true);
        return result;
      }
    }
    traced?.end();
    for (const add of adds) if (add.promote && election.isLeader) this.promoter.promoteFor(add.tick, add.queue, add.opts.jobId);
    result.added = adds.length;
    // Not fenced, and need not be: the filed ticks only order a new leader's first pass, and its
    // second reads every cursor anyway. Filed after the cursors, so a tick is never filed early.
    await store.fileDue(nextTicks, unfiled, now);
    await this.record(adds, dropped, now);
    if (this.restToLoad) {
      await this.loadRest();
      this.restToLoad = false;
    }
    return result;
  }

  /**
   * The pass's decisions, in the tick ledger: after its jobs and cursors are written, so the ledger
   * never tells of a tick this leader did not add. A failed write loses only the ledger's lines.
   */
  private async record(adds: PendingAdd[], dropped: DroppedTick[], now: number): Promise<void> {
    const { ledger, election, logger } = this.options;
    const term = election.term;
    if (!ledger || term === undefined || adds.length + dropped.length === 0) return;
    const entries: TickLedgerEntry[] = [
      ...adds.map(({ scheduleId, tick, late }) => ({ scheduleId, tick, event: { kind: 'materialized', at: now, term, late } }) as const),
      ...dropped.map(({ scheduleId, tick }) => ({ scheduleId, tick, event: { kind: 'missed', at: now, term } }) as const),
    ];
    await ledger.append(entries, now).catch((error: unknown) => logger.warn({ err: error, events: entries.length }, 'recording the pass in the tick ledger failed'));
  }

  /** Files the schedule under its next tick, and returns it; a paused one, or one without ticks left, waits for a change instead. */
  private index(record: ScheduleRecord, cursor: Cursor): number {
    const next = cursor.paused ? Number.POSITIVE_INFINITY : this.nextTickOf(record, cursor);
    if (next === Number.POSITIVE_INFINITY) this.due.delete(record.id);
    else this.due.set(record.id, next);
    return next;
  }

  private async applyChanges(): Promise<void> {
    const { store } = this.options;
    const ids = await store.takeChanged(CHANGES_PER_PASS);
    if (ids.length === 0) return;
    const [records, paused, cursors] = await Promise.all([
      store.rawRecords(ids),
      store.pausedAmong(ids),
      // Before the rest is loaded, a changed schedule's stored cursor is needed to withdraw its runs.
      this.restToLoad ? store.cursorsOf(ids.filter((id) => !this.cursors.has(id))) : new Map<string, Cursor>(),
    ]);
    for (const [id, cursor] of cursors) this.cursors.set(id, cursor);
    ids.forEach((id, index) => {
      const json = records[index];
      if (json) this.records.set(id, JSON.parse(json) as ScheduleRecord);
      else this.records.delete(id);
      if (paused.has(id)) this.paused.add(id);
      else this.paused.delete(id);
      this.pending.add(id);
    });
  }

  private fingerprintOf(record: ScheduleRecord): string {
    let fingerprint = this.fingerprints.get(record);
    if (fingerprint === undefined) {
      fingerprint = scheduleFingerprint(record);
      this.fingerprints.set(record, fingerprint);
    }
    return fingerprint;
  }

  /** The cursor still fits the schedule: same spec, same pause state. */
  private isCurrent(record: ScheduleRecord, cursor: Cursor): boolean {
    return cursor.fingerprint === this.fingerprintOf(record) && cursor.paused === this.paused.has(record.id);
  }

  /** The first tick after the cursor's `upTo`, computed once per cursor (cursors are replaced, never changed). */
  private nextTickOf(record: ScheduleRecord, cursor: Cursor): number {
    let next = this.nextTicks.get(cursor);
    if (next === undefined) {
      next = this.ticksOf(record.id, record.timing, cursor.upTo, 1)[0] ?? Number.POSITIVE_INFINITY;
      this.nextTicks.set(cursor, next);
      // Only a one-off `at` runs out of ticks; for the others it would be a schedule stopping silently.
      if (next === Number.POSITIVE_INFINITY && record.timing.kind !== 'at') {
        this.options.logger.error({ schedule: record.id, after: new Date(cursor.upTo).toISOString(), timing: record.timing }, 'the time engine found no next tick for this schedule');
        this.options.onStalled?.(record, cursor.upTo);
      }
    }
    return next;
  }

  /**
   * ticksAfter, for one schedule: a stored timing the engine cannot read (written before a check
   * existed) stalls that schedule, reported through `onStalled`, not the pass of every schedule.
   */
  private ticksOf(id: string, timing: NormalizedTiming, after: number, limit: number, until?: number): number[] {
    try {
      return ticksAfter(timing, after, limit, until);
    } catch (error) {
      this.options.logger.error({ err: error, schedule: id, timing }, 'the time engine cannot read this schedule');
      return [];
    }
  }

  /** The cursor to continue from: fresh for a new schedule, reset when its spec or pause changed. */
  private async cursorFor(record: ScheduleRecord, cursor: Cursor | undefined, now: number, result: PassResult): Promise<Cursor> {
    const fingerprint = this.fingerprintOf(record);
    const paused = this.paused.has(record.id);
    if (!cursor) return { upTo: now, job: record.job, fingerprint, timing: record.timing, paused };
    const specChanged = cursor.fingerprint !== fingerprint;
    if (specChanged || (paused && !cursor.paused)) {
      result.withdrawn += await this.withdraw(record.id, cursor, now, specChanged ? 'changed' : 'paused');
      return { upTo: now, job: record.job, fingerprint, timing: record.timing, paused };
    }
    // Resuming starts from now: ticks that passed while paused were not missed, they were declined.
    if (!paused && cursor.paused) return { ...cursor, upTo: Math.max(cursor.upTo, now), paused: false };
    return cursor;
  }

  private materialize(record: ScheduleRecord, cursor: Cursor, now: number, adds: PendingAdd[], dropped: DroppedTick[], result: PassResult): Cursor {
    const horizon = now + this.options.lookaheadMs;
    // Nothing due up to the horizon, missed ticks included: the cursor stays, unwritten. A cursor
    // behind the horizon is still true, as every tick up to its `upTo` was handled.
    if (cursor.upTo >= horizon || this.nextTickOf(record, cursor) > horizon) return cursor;
    const job = this.options.registry.find(record.job);
    if (!job) {
      this.options.logger.warn({ schedule: record.id, job: record.job }, 'schedule names a job the code no longer defines; not firing it');
      return cursor;
    }
    const missedEnd = lastMissedTick(now);
    const missed = cursor.upTo < missedEnd ? this.ticksOf(record.id, record.timing, cursor.upTo, MAX_MISSED_SCAN, missedEnd) : [];
    const toCatchUp = missedTicksToRun(record, missed, now);
    if (missed.length > toCatchUp.length) {
      const droppedTicks = missed.filter((tick) => !toCatchUp.includes(tick));
      result.missed += droppedTicks.length;
      this.options.logger.warn({ schedule: record.id, missed: droppedTicks.length, misfire: record.misfire }, 'ticks missed while no scheduler ran');
      this.options.onMissed?.(record, droppedTicks);
      for (const tick of droppedTicks) dropped.push({ scheduleId: record.id, tick });
    }
    const from = Math.max(cursor.upTo, missedEnd);
    const upcoming = this.ticksOf(record.id, record.timing, from, MAX_UPCOMING_PER_PASS, horizon);
    const queue = this.options.queues.queueOf(job);
    const base = jobOptionsFor(job);
    const jitterMs = record.jitterMs ?? 0;
    for (const tick of [...toCatchUp, ...upcoming]) {
      // A caught-up tick runs now; an upcoming one when due, which jitter puts up to jitterMs after it.
      const late = toCatchUp.includes(tick);
      const due = late ? tick : tick + jitterOffsetMs(record.id, tick, jitterMs);
      const delay = Math.max(0, due - now);
      adds.push({
        queue,
        name: job.name,
        scheduleId: record.id,
        data: record.data,
        opts: { ...base, jobId: scheduledRunId(record.id, tick), ...(delay > 0 ? { delay } : {}) },
        tick,
        // A jittered run is spread on purpose: BullMQ starts it when due, without the promotion ahead.
        promote: delay > 0 && jitterMs === 0,
        late,
      });
    }
    const upTo = upcoming.length === MAX_UPCOMING_PER_PASS ? (upcoming[upcoming.length - 1] as number) : horizon;
    return { ...cursor, upTo };
  }

  private async addJobs(adds: PendingAdd[]): Promise<void> {
    const byQueue = new Map<Queue, PendingAdd[]>();
    for (const add of adds) {
      const items = byQueue.get(add.queue);
      if (items) items.push(add);
      else byQueue.set(add.queue, [add]);
    }
    for (const [queue, items] of byQueue) {
      for (let start = 0; start < items.length; start += 1000) {
        await queue.addBulk(items.slice(start, start + 1000).map(({ name, data, opts }) => ({ name, data, opts })));
      }
    }
  }

  /** Removes a schedule's runs that were added ahead but have not started, and tells the ledger why. */
  private async withdraw(id: string, cursor: Cursor, now: number, why: WithdrawReason): Promise<number> {
    const job = this.options.registry.find(cursor.job);
    if (!job || cursor.upTo <= now) return 0;
    const queue = this.options.queues.queueOf(job);
    const ticks = this.ticksOf(id, cursor.timing as NormalizedTiming, now, MAX_UPCOMING_PER_PASS, cursor.upTo);
    const removed = await Promise.all(ticks.map((tick) => queue.remove(scheduledRunId(id, tick))));
    const withdrawn = ticks.filter((_, index) => removed[index] === 1);
    const { ledger, election } = this.options;
    const term = election.term;
    if (ledger && term !== undefined && withdrawn.length > 0) {
      await ledger.append(withdrawn.map((tick) => ({ scheduleId: id, tick, event: { kind: 'withdrawn', at: now, term, why } })), now);
    }
    return withdrawn.length;
  }
}

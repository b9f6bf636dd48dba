import {
  parseScheduledRunId,
  scheduledRunId,
  scheduleFingerprint,
  ticksAfter,
  type AlertWebhook,
  type JobRegistry,
  type LeaderElection,
  type Logger,
  type NormalizedTiming,
  type Overdue,
  type ScheduleRecord,
  type ScheduleStore,
  type RedisConnection,
  type SchedulerMetrics,
} from '@drumline/core/runtime';
import { alertOnce } from './alert-once.js';
import { RepeatingTask } from './repeating-task.js';

export interface OverdueWatcherOptions {
  redis: RedisConnection;
  registry: JobRegistry;
  store: ScheduleStore;
  election: LeaderElection;
  logger: Logger;
  alerts: AlertWebhook;
  /** A tick whose run has not started this long after it trips the switch. */
  overdueMs: number;
  /** How often to look (default: a sixth of `overdueMs`, within 250 ms and 5 s). */
  checkEveryMs?: number;
  metrics?: Pick<SchedulerMetrics, 'overdue'>;
  now?: () => number;
}

/**
 * Where a schedule's watch starts. Ticks at or before `from` are never overdue: they came before
 * the schedule existed, was resumed or changed, or they already started (a high-water mark, so a
 * run that finishes after a newer one started cannot move it back), or a misfire policy dropped
 * them (alerted as missed instead). Kept in Redis so a new leader carries on where the old one was.
 */
interface Baseline {
  from: number;
  fingerprint: string;
  paused: boolean;
}

/** One schedule as the watch sees it. */
interface Watch {
  job: string;
  timing: NormalizedTiming;
  fingerprint: string;
  paused: boolean;
  /** As last read from or written to Redis; undefined until the first look at the schedule. */
  baseline: Baseline | undefined;
  /** The first tick after the baseline (none while paused). */
  expected: number | undefined;
}

function watchOf(record: ScheduleRecord, paused: boolean, baseline: Baseline | undefined): Watch {
  const fingerprint = scheduleFingerprint(record);
  const current = baseline && baseline.fingerprint === fingerprint && baseline.paused === paused;
  return { job: record.job, timing: record.timing, fingerprint, paused, baseline, expected: current && !paused ? ticksAfter(record.timing, baseline.from, 1)[0] : undefined };
}

/** What a look starts from: every schedule, the ids to look at whatever their expected tick, and baselines to delete. */
interface Look {
  watches: Map<string, Watch>;
  touched: Set<string>;
  baselineDeletes: Set<string>;
}

/**
 * The dead-man's switch, run by the leader only: a schedule whose next expected run (the first
 * tick after its baseline) has not started `overdueMs` after that tick is flagged in Redis (the
 * web shows it in GET /api/schedules and as `drumline_schedule_overdue`), counted, and alerted
 * once. The flag stays on the same tick until a run starts, so an outage is one alert, not one
 * per tick. Paused schedules are never overdue.
 */
export class OverdueWatcher {
  private readonly now: () => number;
  private readonly checkEveryMs: number;
  private readonly missedThrough = new Map<string, number>();
  /**
   * What this leader knows of each schedule, and the baseline it last wrote: read in full on the
   * first look after start, then kept up to date from the ids the API flags as changed. A look then
   * reads the last runs only of the schedules whose expected tick has come, not every schedule.
   */
  private watches: Map<string, Watch> | undefined;
  /** The flags in Redis, as this leader last wrote them. */
  private flags = new Map<string, Overdue>();
  private readonly checks: RepeatingTask;

  constructor(private readonly options: OverdueWatcherOptions) {
    this.now = options.now ?? Date.now;
    this.checkEveryMs = options.checkEveryMs ?? Math.min(5_000, Math.max(250, Math.floor(options.overdueMs / 6)));
    this.checks = new RepeatingTask(() => this.check(), () => this.checkEveryMs, options.logger, 'overdue check failed');
  }

  /** Starts looking, the first time now or after `firstLookAfterMs` (a new leader's first passes may come first). */
  start(firstLookAfterMs = 0): void {
    // Another leader may have written in between: the first look reads everything again.
    this.watches = undefined;
    this.checks.start(firstLookAfterMs);
  }

  async stop(): Promise<void> {
    await this.checks.stop();
  }

  /** Ticks up to `tick` were dropped by the misfire policy: they are reported as missed, not as overdue. */
  ticksMissed(scheduleId: string, tick: number): void {
    this.missedThrough.set(scheduleId, Math.max(tick, this.missedThrough.get(scheduleId) ?? tick));
  }

  /** One look at every schedule; returns the schedules flagged afterwards. Does nothing unless leading. */
  async check(): Promise<Map<string, Overdue>> {
    const { store, election, overdueMs } = this.options;
    const keys = store.keys;
    if (!election.isLeader) return new Map();
    const { watches, touched, baselineDeletes } = this.watches ? await this.readChanges(this.watches) : await this.readAll();
    const now = this.now();
    const baselineWrites: [string, string][] = [];
    const flagWrites: [string, string][] = [];
    const flagDeletes: string[] = [];
    const newlyOverdue: { id: string; job: string; overdue: Overdue }[] = [];

    for (const id of touched) {
      if (watches.has(id)) continue;
      this.missedThrough.delete(id);
      if (this.flags.delete(id)) flagDeletes.push(id);
      baselineDeletes.add(id);
    }
    // A schedule's baseline can only move once its expected tick has come (a run started, a tick was
    // dropped), or when it changed: those are the ones to look at, with their last runs.
    const looked: [string, Watch][] = [];
    for (const entry of watches) {
      const [id, watch] = entry;
      if (touched.has(id) || this.missedThrough.has(id) || (watch.expected !== undefined && watch.expected <= now)) looked.push(entry);
    }
    const lastRuns = await store.lastRuns(looked.map(([id]) => id));
    for (const [id, watch] of looked) {
      const before = watch.baseline;
      let baseline: Baseline;
      if (!before || before.fingerprint !== watch.fingerprint || before.paused !== watch.paused) {
        // New, changed, paused or resumed just now: the watch (re)starts from now.
        baseline = { from: now, fingerprint: watch.fingerprint, paused: watch.paused };
      } else {
        const lastRun = lastRuns.get(id);
        const lastTick = lastRun && !parseScheduledRunId(lastRun.runId)?.manual ? lastRun.scheduledFor : -Infinity;
        baseline = { ...before, from: Math.max(before.from, lastTick, this.missedThrough.get(id) ?? -Infinity) };
      }
      this.missedThrough.delete(id);
      if (!before || baseline.from !== before.from || baseline.fingerprint !== before.fingerprint || baseline.paused !== before.paused) {
        baselineWrites.push([id, JSON.stringify(baseline)]);
        watch.baseline = baseline;
        watch.expected = watch.paused ? undefined : ticksAfter(watch.timing, baseline.from, 1)[0];
      }

      const next = watch.expected;
      const tick = next !== undefined && next <= now - overdueMs ? next : undefined;
      const flagged = this.flags.get(id);
      if (tick === undefined) {
        if (flagged) {
          flagDeletes.push(id);
          this.flags.delete(id);
          this.options.logger.info({ schedule: id, tick: new Date(flagged.tick).toISOString() }, watch.paused ? 'schedule paused: no longer overdue' : 'schedule no longer overdue: its run started');
        }
        continue;
      }
      if (flagged?.tick === tick) continue;
      const overdue: Overdue = { tick, since: tick + overdueMs };
      flagWrites.push([id, JSON.stringify(overdue)]);
      this.flags.set(id, overdue);
      newlyOverdue.push({ id, job: watch.job, overdue });
    }

    // Fenced: a leader that lost its lease mid-check writes nothing and alerts nothing.
    if (!(await election.writeHashFenced(keys.overdueBaseline, baselineWrites, [...baselineDeletes]))) return this.forget();
    if (!(await election.writeHashFenced(keys.overdue, flagWrites, flagDeletes))) return this.forget();
    await Promise.all(newlyOverdue.map(({ id, job, overdue }) => this.report(id, job, overdue)));
    return new Map(this.flags);
  }

  /** What this leader knew may not be what Redis holds: the next look reads everything again. */
  private forget(): Map<string, Overdue> {
    this.watches = undefined;
    return new Map();
  }

  /** Every schedule, its baseline and the flags, as Redis holds them; all of them are looked at. */
  private async readAll(): Promise<Look> {
    const { store, redis } = this.options;
    await store.takeChangedForWatch(Number.MAX_SAFE_INTEGER);
    const [records, paused, flags, rawBaselines] = await Promise.all([store.all(), store.pausedIds(), store.overdue(), redis.hgetall(store.keys.overdueBaseline)]);
    const watches = new Map<string, Watch>();
    for (const record of records) {
      const stored = rawBaselines[record.id];
      watches.set(record.id, watchOf(record, paused.has(record.id), stored ? (JSON.parse(stored) as Baseline) : undefined));
    }
    this.watches = watches;
    this.flags = flags;
    for (const id of this.missedThrough.keys()) if (!watches.has(id)) this.missedThrough.delete(id);
    const gone = [...Object.keys(rawBaselines), ...flags.keys()].filter((id) => !watches.has(id));
    return { watches, touched: new Set([...watches.keys(), ...gone]), baselineDeletes: new Set(Object.keys(rawBaselines).filter((id) => !watches.has(id))) };
  }

  /** The schedules the API changed since the last look, read again. */
  private async readChanges(watches: Map<string, Watch>): Promise<Look> {
    const { store } = this.options;
    const ids = await store.takeChangedForWatch();
    const [records, paused] = await Promise.all([store.rawRecords(ids), store.pausedAmong(ids)]);
    ids.forEach((id, index) => {
      const json = records[index];
      if (!json) {
        watches.delete(id);
        return;
      }
      const record = JSON.parse(json) as ScheduleRecord;
      const watch = watchOf(record, paused.has(id), watches.get(id)?.baseline);
      watches.set(id, watch);
    });
    return { watches, touched: new Set(ids), baselineDeletes: new Set() };
  }

  private async report(id: string, job: string, overdue: Overdue): Promise<void> {
    const { logger, overdueMs } = this.options;
    const tick = new Date(overdue.tick).toISOString();
    logger.warn({ schedule: id, job, tick, overdueMs }, "schedule overdue: its run has not started (dead-man's switch)");
    this.options.metrics?.overdue.labels(id).inc();
    const definition = this.options.registry.find(job);
    await alertOnce({ ...this.options, keys: this.options.store.keys }, `overdue:${id}@${overdue.tick}`, {
      kind: 'schedule-overdue',
      job,
      // The run that should have started (it may not exist if nothing materialized it): its page shows where it is stuck.
      runId: scheduledRunId(id, overdue.tick),
      ...(definition ? { queue: definition.queue } : {}),
      schedule: id,
      tick,
      reason: `the run of the ${tick} tick had not started ${overdueMs} ms after it`,
      attempts: null,
    });
  }
}

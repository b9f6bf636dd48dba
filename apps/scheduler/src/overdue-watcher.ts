import {
  parseScheduledRunId,
  scheduledRunId,
  scheduleFingerprint,
  ticksAfter,
  type AlertWebhook,
  type JobRegistry,
  type LeaderElection,
  type Logger,
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
  /** The first tick after each schedule's baseline, kept while the baseline holds: a cron parse per schedule per check would cost the leader real CPU at 10,000 schedules. */
  private readonly expected = new Map<string, { from: number; fingerprint: string; tick: number | undefined }>();
  private readonly checks: RepeatingTask;

  constructor(private readonly options: OverdueWatcherOptions) {
    this.now = options.now ?? Date.now;
    this.checkEveryMs = options.checkEveryMs ?? Math.min(5_000, Math.max(250, Math.floor(options.overdueMs / 6)));
    this.checks = new RepeatingTask(() => this.check(), () => this.checkEveryMs, options.logger, 'overdue check failed');
  }

  start(): void {
    this.checks.start();
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
    const { store, election, redis, logger, overdueMs } = this.options;
    const keys = store.keys;
    if (!election.isLeader) return new Map();
    const [records, paused, lastRuns, flags, rawBaselines] = await Promise.all([
      store.all(),
      store.pausedIds(),
      store.lastRuns(),
      store.overdue(),
      redis.hgetall(keys.overdueBaseline),
    ]);
    const now = this.now();
    const baselineWrites: [string, string][] = [];
    const flagWrites: [string, string][] = [];
    const flagDeletes: string[] = [];
    const newlyOverdue: { id: string; job: string; overdue: Overdue }[] = [];
    const ids = new Set<string>();

    for (const record of records) {
      ids.add(record.id);
      const before = rawBaselines[record.id] ? (JSON.parse(rawBaselines[record.id] as string) as Baseline) : undefined;
      const fingerprint = scheduleFingerprint(record);
      const isPaused = paused.has(record.id);
      let baseline: Baseline;
      if (!before || before.fingerprint !== fingerprint || before.paused !== isPaused) {
        // New, changed, paused or resumed just now: the watch (re)starts from now.
        baseline = { from: now, fingerprint, paused: isPaused };
      } else {
        const lastRun = lastRuns.get(record.id);
        const lastTick = lastRun && !parseScheduledRunId(lastRun.runId)?.manual ? lastRun.scheduledFor : -Infinity;
        baseline = { ...before, from: Math.max(before.from, lastTick, this.missedThrough.get(record.id) ?? -Infinity) };
      }
      if (!before || baseline.from !== before.from || baseline.fingerprint !== before.fingerprint || baseline.paused !== before.paused) {
        baselineWrites.push([record.id, JSON.stringify(baseline)]);
      }

      const next = isPaused ? undefined : this.expectedTick(record, baseline);
      const tick = next !== undefined && next <= now - overdueMs ? next : undefined;
      const flagged = flags.get(record.id);
      if (tick === undefined) {
        if (flagged) {
          flagDeletes.push(record.id);
          flags.delete(record.id);
          logger.info({ schedule: record.id, tick: new Date(flagged.tick).toISOString() }, isPaused ? 'schedule paused: no longer overdue' : 'schedule no longer overdue: its run started');
        }
        continue;
      }
      if (flagged?.tick === tick) continue;
      const overdue: Overdue = { tick, since: tick + overdueMs };
      flagWrites.push([record.id, JSON.stringify(overdue)]);
      flags.set(record.id, overdue);
      newlyOverdue.push({ id: record.id, job: record.job, overdue });
    }
    for (const id of flags.keys()) {
      if (!ids.has(id)) {
        flagDeletes.push(id);
        flags.delete(id);
      }
    }
    const baselineDeletes = Object.keys(rawBaselines).filter((id) => !ids.has(id));
    for (const cache of [this.missedThrough, this.expected]) for (const id of cache.keys()) if (!ids.has(id)) cache.delete(id);

    // Fenced: a leader that lost its lease mid-check writes nothing and alerts nothing.
    if (!(await election.writeHashFenced(keys.overdueBaseline, baselineWrites, baselineDeletes))) return new Map();
    if (!(await election.writeHashFenced(keys.overdue, flagWrites, flagDeletes))) return new Map();
    await Promise.all(newlyOverdue.map(({ id, job, overdue }) => this.report(id, job, overdue)));
    return flags;
  }

  private expectedTick(record: ScheduleRecord, baseline: Baseline): number | undefined {
    const cached = this.expected.get(record.id);
    if (cached && cached.from === baseline.from && cached.fingerprint === baseline.fingerprint) return cached.tick;
    const tick = ticksAfter(record.timing, baseline.from, 1)[0];
    this.expected.set(record.id, { from: baseline.from, fingerprint: baseline.fingerprint, tick });
    return tick;
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

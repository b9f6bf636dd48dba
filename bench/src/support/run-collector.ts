import { setTimeout as sleep } from 'node:timers/promises';
import { parseScheduledRunId } from '@drumline/core/runtime';
import type { Redis } from 'ioredis';
import { percentile, round } from './stats.js';

/** One finished run of a schedule's tick, as the job hash told it. */
export interface TickRun {
  scheduleId: string;
  tickMs: number;
  /** When the handler ran: the `at` it returned (ping's, and the bare worker's alike). */
  ranAt: number;
  finishedOn: number;
}

/** Reads the schedule and nominal tick out of a job id, or undefined for any other job. */
export type TickOf = (jobId: string) => { scheduleId: string; tickMs: number } | undefined;

/** A Drumline run of a schedule's tick: `<schedule>@<tick>` (a manual run of a schedule is not one). */
export const drumlineTick: TickOf = (id) => {
  const run = parseScheduledRunId(id);
  return run && !run.manual ? { scheduleId: run.scheduleId, tickMs: run.scheduledFor.getTime() } : undefined;
};

/** A BullMQ job scheduler's job: `repeat:<scheduler>:<tick>`. */
export const bullmqTick: TickOf = (id) => {
  const match = /^repeat:(.+):(\d+)$/.exec(id);
  return match ? { scheduleId: match[1] as string, tickMs: Number(match[2]) } : undefined;
};

export interface TickReport {
  expected: number;
  ran: number;
  missed: number;
  duplicates: number;
  failed: number;
  latenessP50Ms: number;
  latenessP99Ms: number;
  latenessMaxMs: number;
}

/**
 * Collects every completed run of a queue while a scenario runs. Ping's retention keeps only the
 * latest 1000 completed jobs, so the collector polls the completed set (scored by finish time)
 * every `pollMs` and reads each new job's return value before retention trims it. A run's lateness
 * is when its handler ran (the `at` it returned) minus its tick, the same measure on both sides:
 * `processedOn` is when BullMQ moved the job to active for the baseline, but for Drumline when its
 * gate let a run that the worker held until its tick start, a round trip before the handler. A gap between
 * polls long enough to lose runs is reported as an error rather than as missed ticks.
 */
export class RunCollector {
  /** `<jobId>` → finish times seen: two different ones mean the same tick ran twice. */
  private readonly finishes = new Map<string, Set<number>>();
  private readonly runs: TickRun[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;
  private since = 0;
  private longestGapMs = 0;

  constructor(
    private readonly client: Redis,
    private readonly queueKey: string,
    private readonly tickOf: TickOf,
    private readonly pollMs = 200,
  ) {}

  start(): void {
    this.loop = this.poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.collect();
  }

  /** Every (schedule, tick) in `[fromMs, toMs)` of each schedule in `scheduleIds`, every `everyMs`. */
  report(scheduleIds: readonly string[], everyMs: number, fromMs: number, toMs: number): TickReport {
    const wanted = new Set(scheduleIds);
    const inWindow = this.runs.filter((run) => wanted.has(run.scheduleId) && run.tickMs >= fromMs && run.tickMs < toMs);
    const byTick = new Map<string, TickRun[]>();
    for (const run of inWindow) {
      const key = `${run.scheduleId}@${run.tickMs}`;
      byTick.set(key, [...(byTick.get(key) ?? []), run]);
    }
    const firstTick = Math.ceil(fromMs / everyMs) * everyMs;
    const ticksPerSchedule = firstTick < toMs ? Math.ceil((toMs - firstTick) / everyMs) : 0;
    const expected = ticksPerSchedule * scheduleIds.length;
    const lateness = inWindow.map((run) => run.ranAt - run.tickMs);
    const duplicates = [...byTick.values()].reduce((sum, runs) => sum + runs.length - 1, 0);
    return {
      expected,
      ran: byTick.size,
      missed: expected - byTick.size,
      duplicates,
      failed: 0,
      latenessP50Ms: round(percentile(lateness, 50), 1),
      latenessP99Ms: round(percentile(lateness, 99), 1),
      latenessMaxMs: round(Math.max(...lateness), 1),
    };
  }

  /** Lateness (handler ran − tick) of every run whose tick `where` accepts. */
  lateness(where: (tickMs: number) => boolean): number[] {
    return this.runs.filter((run) => where(run.tickMs)).map((run) => run.ranAt - run.tickMs);
  }

  /** When the first run of a tick after `afterMs` started (its handler's `at`), or undefined while none has been seen. */
  firstRunOfTickAfter(afterMs: number): number | undefined {
    let first: number | undefined;
    for (const run of this.runs) if (run.tickMs > afterMs && (first === undefined || run.ranAt < first)) first = run.ranAt;
    return first;
  }

  /** The longest time between two polls: above ~1 s at 500 runs/s, retention may have trimmed runs unseen. */
  get longestPollGapMs(): number {
    return this.longestGapMs;
  }

  async failedCount(): Promise<number> {
    return this.client.zcard(`${this.queueKey}:failed`);
  }

  private async poll(): Promise<void> {
    let last = performance.now();
    while (!this.stopped) {
      await this.collect();
      const now = performance.now();
      this.longestGapMs = Math.max(this.longestGapMs, now - last);
      last = now;
      await sleep(this.pollMs);
    }
  }

  private async collect(): Promise<void> {
    // Overlap the previous window by a second: finish times come from worker clocks, a little apart.
    const entries = await this.client.zrangebyscore(`${this.queueKey}:completed`, this.since - 1000, '+inf', 'WITHSCORES');
    const fresh: { id: string; finishedOn: number }[] = [];
    for (let index = 0; index < entries.length; index += 2) {
      const id = entries[index] as string;
      const finishedOn = Number(entries[index + 1]);
      this.since = Math.max(this.since, finishedOn);
      const seen = this.finishes.get(id);
      if (seen?.has(finishedOn)) continue;
      if (seen) seen.add(finishedOn);
      else this.finishes.set(id, new Set([finishedOn]));
      fresh.push({ id, finishedOn });
    }
    if (fresh.length === 0) return;
    const pipeline = this.client.pipeline();
    for (const { id } of fresh) pipeline.hget(`${this.queueKey}:${id}`, 'returnvalue');
    const results = (await pipeline.exec()) ?? [];
    fresh.forEach(({ id, finishedOn }, index) => {
      const tick = this.tickOf(id);
      const ranAt = ranAtOf(results[index]?.[1]);
      if (!tick || ranAt === undefined) return;
      this.runs.push({ ...tick, ranAt, finishedOn });
    });
  }
}

/** The `at` a run's handler returned (`{ pid, at }`), in epoch ms; undefined for a run that returned none (a skipped tick). */
function ranAtOf(returnvalue: unknown): number | undefined {
  if (typeof returnvalue !== 'string') return undefined;
  const at = (JSON.parse(returnvalue) as { at?: unknown } | null)?.at;
  const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

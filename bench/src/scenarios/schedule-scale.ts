import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createJobRegistry, createLogger, LeaderElection, ScheduleStore, type JobRegistry } from '@drumline/core/runtime';
import { reconcileSchedules, type ReconcileDiff } from '@drumline/scheduler/dist/reconcile.js';
import { Queue } from 'bullmq';
import { appEnv } from '../support/apps.js';
import { entries, NodeProcess, type LogLine } from '../support/node-process.js';
import type { RedisServer } from '../support/redis-server.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { generatedJobs, generatedSchedules } from '../scale/generated-jobs.js';
import { LEASE_TTL_MS, measureApiScale, type ApiScaleFigures } from '../scale/api-scale.js';
import { mib, round } from '../support/stats.js';

const PREFIX = 'bench-scale';
const MAX_UNCHANGED_MS = 2000;
const MAX_RSS_MIB = 200;
/** The second size: API schedules, one per customer (issue #15). */
const API_SIZES = [1000, 10_000, 100_000];
const MAX_API_CREATE_MS = 60_000;
const MAX_API_CPU_S_PER_MIN = 5;
const MAX_API_RSS_MIB = 500;
const MAX_TAKEOVER_MS = LEASE_TTL_MS + 1000;

/** BENCH_SCALE_SIZES=100000 (comma-separated) measures only those sizes of API schedules. */
function apiSizes(quick: boolean): number[] {
  const chosen = process.env.BENCH_SCALE_SIZES?.split(',').map(Number).filter((size) => size > 0);
  return chosen && chosen.length > 0 ? chosen : quick ? API_SIZES.slice(0, 2) : API_SIZES;
}

function apiProblems(figures: ApiScaleFigures): string[] {
  const at = `at ${figures.schedules}`;
  const ticks = Object.values(figures.ticks);
  return [
    figures.createMs > MAX_API_CREATE_MS ? `${at}, creating through the API took ${round(figures.createMs / 1000, 1)} s` : '',
    figures.leaderCpuSecondsPerMinute >= MAX_API_CPU_S_PER_MIN ? `${at}, the leader used ${figures.leaderCpuSecondsPerMinute} CPU s/min` : '',
    Math.max(figures.leaderPeakRssMiB, ...figures.newLeaderPeakRssMiB) >= MAX_API_RSS_MIB ? `${at}, scheduler peak RSS ${Math.max(figures.leaderPeakRssMiB, ...figures.newLeaderPeakRssMiB)} MiB` : '',
    figures.takeoverMedianMs > MAX_TAKEOVER_MS ? `${at}, median takeover ${figures.takeoverMedianMs} ms` : '',
    figures.leadershipLosses > 0 ? `${at}, the leader lost its own lease ${figures.leadershipLosses}×` : '',
    ticks.some((report) => report.duplicates > 0 || report.missed > 0) ? `${at}, sample ticks ran twice or never` : '',
  ].filter(Boolean);
}

const curveLine = (figures: ApiScaleFigures): string =>
  `${figures.schedules}: created in ${round(figures.createMs / 1000, 1)} s, leader ${figures.leaderCpuSecondsPerMinute} CPU s/min, ` +
  `RSS ${figures.leaderRssMiB} MiB (peak ${Math.max(figures.leaderPeakRssMiB, ...figures.newLeaderPeakRssMiB)}), takeover ${figures.takeoverMedianMs} ms, ` +
  `Redis ${figures.redisBytesPerScheduleTotal} B/schedule, ` +
  `${Object.values(figures.ticks).reduce((sum, report) => sum + report.duplicates, 0)} twice / ${Object.values(figures.ticks).reduce((sum, report) => sum + report.missed, 0)} missing ` +
  `of ${Object.values(figures.ticks).reduce((sum, report) => sum + report.expected, 0)} sample ticks`;

/** Reconciles in this process, twice: from an empty Redis, then with nothing changed. */
async function reconcileInProcess(redis: RedisServer, registry: JobRegistry, count: number): Promise<{ fromEmptyMs: number; unchangedMs: number }> {
  const logger = createLogger({ app: 'bench', level: 'silent' });
  const election = new LeaderElection(redis.client, PREFIX, { leaseTtlMs: 30_000, logger });
  const store = new ScheduleStore(redis.client, PREFIX);
  election.start();
  await once(election, 'elected');
  try {
    const timed = async (): Promise<[number, ReconcileDiff]> => {
      const started = performance.now();
      const diff = await reconcileSchedules({ registry, store, election, logger });
      check(diff !== undefined, 'reconciliation lost the lease');
      return [performance.now() - started, diff];
    };
    const [fromEmptyMs, first] = await timed();
    check(first.added.length === count, `from empty, reconciliation added ${first.added.length} schedules, expected ${count}`);
    const [unchangedMs, second] = await timed();
    check(second.unchanged === count && second.added.length + second.changed.length + second.removed.length === 0, 'the second reconciliation changed something');
    check((await redis.client.hlen(store.keys.schedules)) === count, 'Redis does not hold every schedule');
    return { fromEmptyMs, unchangedMs };
  } finally {
    await election.stop();
  }
}

interface ProcessFigures {
  reconcileUnchangedMs: number;
  /** Times the only scheduler lost its own lease: it should be none. */
  leadershipLosses: number;
  steadyCpuSecondsPerMinute: number;
  rssMiB: number;
  peakRssMiB: number;
  firstPassJobs: number;
}

/** The bench-only scheduler entry over the schedules already stored: its reconcile, then its steady state. */
async function schedulerProcess(redis: RedisServer, count: number, settleS: number, measureS: number, log: (message: string) => void): Promise<ProcessFigures> {
  const child = NodeProcess.start('scale scheduler', entries.scaleScheduler, appEnv(redis, PREFIX, { LOG_LEVEL: 'info', SCALE_SCHEDULES: String(count) }));
  try {
    const elected = await child.waitForMsg('elected leader', 30_000);
    const reconciled = await child.waitForMsg(/^reconciled schedules with code/, 60_000);
    check(reconciled.unchanged === count, `the scheduler process found ${String(reconciled.unchanged)} schedules unchanged, expected ${count}`);
    await child.waitForMsg('materializing schedules', 60_000);
    const time = (line: LogLine) => Number(line.time);
    // Let the first passes (which add every tick due in the lookahead) settle before measuring.
    await sleep(settleS * 1000);
    const firstPassJobs = await redis.client.zcard(`${PREFIX}:default:delayed`);
    const cpuBefore = child.cpuMs();
    const started = performance.now();
    await sleep(measureS * 1000);
    const cpuMs = child.cpuMs() - cpuBefore;
    const elapsedMs = performance.now() - started;
    check(child.running, `the scheduler process died:\n${child.tail()}`);
    const figures = {
      reconcileUnchangedMs: time(reconciled) - time(elected),
      leadershipLosses: child.lines.filter((line) => line.msg === 'no longer leader').length,
      steadyCpuSecondsPerMinute: round((cpuMs / elapsedMs) * 60, 2),
      rssMiB: mib(child.rssBytes()),
      peakRssMiB: mib(child.peakRssBytes()),
      firstPassJobs,
    };
    log(`  scheduler process: ${figures.steadyCpuSecondsPerMinute} CPU s/min, RSS ${figures.rssMiB} MiB (peak ${figures.peakRssMiB}), lost its lease ${figures.leadershipLosses} time(s)`);
    return figures;
  } finally {
    await child.stop();
  }
}

/** The same schedules as BullMQ job schedulers, upserted 500 at a time, from empty and then again unchanged. */
async function bullmqUpserts(redis: RedisServer, count: number): Promise<{ fromEmptyMs: number; unchangedMs: number }> {
  const queue = new Queue('default', { connection: redis.client, prefix: `${PREFIX}-bullmq` });
  const schedules = generatedSchedules(count);
  const upsertAll = async () => {
    const started = performance.now();
    for (let start = 0; start < schedules.length; start += 500) {
      await Promise.all(
        schedules.slice(start, start + 500).map(({ job, schedule }) =>
          queue.upsertJobScheduler(
            schedule.id,
            'every' in schedule && schedule.every !== undefined
              ? { every: Number(String(schedule.every).replace('m', '')) * 60_000 }
              : { pattern: (schedule as { cron: string }).cron, ...('tz' in schedule && schedule.tz ? { tz: schedule.tz } : {}) },
            { name: job, data: schedule.data },
          ),
        ),
      );
    }
    return performance.now() - started;
  };
  try {
    const fromEmptyMs = await upsertAll();
    const unchangedMs = await upsertAll();
    check((await queue.getJobSchedulersCount()) === count, 'BullMQ does not hold every job scheduler');
    return { fromEmptyMs, unchangedMs };
  } finally {
    await queue.close();
  }
}

export const scheduleScale: Scenario = {
  name: 'schedule-scale',
  target:
    `reconcile of 10000 unchanged code schedules < ${MAX_UNCHANGED_MS} ms; scheduler RSS < ${MAX_RSS_MIB} MB; the leader keeps its lease. ` +
    `100000 API schedules: created through the API in <= ${MAX_API_CREATE_MS / 1000} s, leader < ${MAX_API_CPU_S_PER_MIN} CPU s/min, scheduler RSS < ${MAX_API_RSS_MIB} MB, ` +
    `median takeover <= lease TTL + 1 s (${MAX_TAKEOVER_MS} ms), every sample tick once`,
  async run({ redis, quick, log }: BenchContext): Promise<Measured> {
    // --quick: a tenth of the schedules, so the baseline's upserts fit; the target is for 10000.
    const count = quick ? 1000 : 10_000;
    const settleS = quick ? 3 : 10;
    const measureS = quick ? 5 : 60;
    const built = performance.now();
    const registry = createJobRegistry(generatedJobs(count));
    const registryBuildMs = performance.now() - built;
    const inProcess = await reconcileInProcess(redis, registry, count);
    log(`  in process: from empty ${round(inProcess.fromEmptyMs, 0)} ms, unchanged ${round(inProcess.unchangedMs, 0)} ms`);
    const process_ = await schedulerProcess(redis, count, settleS, measureS, log);
    const bullmq = await bullmqUpserts(redis, count);
    log(`  BullMQ upserts: from empty ${round(bullmq.fromEmptyMs, 0)} ms, unchanged ${round(bullmq.unchangedMs, 0)} ms`);
    const windows = quick ? { settleS: 5, measureS: 20, kills: 1 } : { settleS: 10, measureS: 60, kills: 2 };
    const api: ApiScaleFigures[] = [];
    for (const size of apiSizes(quick)) api.push(await measureApiScale(redis, size, windows, log));
    for (const figures of api) log(`  API ${curveLine(figures)}`);
    const unchangedMs = Math.max(inProcess.unchangedMs, process_.reconcileUnchangedMs);
    const problems = [
      unchangedMs >= MAX_UNCHANGED_MS ? `unchanged reconcile took ${round(unchangedMs, 0)} ms` : '',
      process_.peakRssMiB >= MAX_RSS_MIB ? `scheduler peak RSS ${process_.peakRssMiB} MiB` : '',
      process_.leadershipLosses > 0
        ? `the only scheduler lost its own lease ${process_.leadershipLosses} time(s): a reconcile or pass blocked its event loop past the lease TTL`
        : '',
      ...api.flatMap(apiProblems),
    ].filter(Boolean);
    return {
      drumline: {
        schedules: count,
        registryBuildMs: round(registryBuildMs, 0),
        reconcileFromEmptyMs: round(inProcess.fromEmptyMs, 0),
        reconcileUnchangedMs: round(inProcess.unchangedMs, 0),
        processReconcileUnchangedMs: round(process_.reconcileUnchangedMs, 0),
        steadyCpuSecondsPerMinute: process_.steadyCpuSecondsPerMinute,
        leadershipLosses: process_.leadershipLosses,
        steadyMeasuredS: measureS,
        rssMiB: process_.rssMiB,
        peakRssMiB: process_.peakRssMiB,
        delayedJobsAfterFirstPasses: process_.firstPassJobs,
        apiSchedules: api,
      },
      baseline: { schedules: count, upsertFromEmptyMs: round(bullmq.fromEmptyMs, 0), upsertUnchangedMs: round(bullmq.unchangedMs, 0) },
      ratio: round(bullmq.unchangedMs / unchangedMs, 3),
      ratioOf: "BullMQ's time to upsert the same job schedulers again ÷ Drumline's unchanged reconcile",
      pass: problems.length === 0,
      ...(problems.length > 0 ? { missed: problems.join('; ') } : {}),
      summary: {
        drumline:
          `reconcile ${round(inProcess.fromEmptyMs, 0)} ms from empty, ${round(unchangedMs, 0)} ms unchanged; ` +
          `leader ${process_.steadyCpuSecondsPerMinute} CPU s/min, RSS ${process_.rssMiB} MiB (peak ${process_.peakRssMiB}), ` +
          `lost its lease ${process_.leadershipLosses}×. API schedules: ${api.map(curveLine).join('; ')}`,
        baseline: `upsertJobScheduler ×${count}: ${round(bullmq.fromEmptyMs, 0)} ms from empty, ${round(bullmq.unchangedMs, 0)} ms again`,
      },
      method:
        `${count} code schedules generated over 100 jobs (⅓ every 1-60 min, ⅓ hourly cron UTC, ⅓ daily cron Europe/Berlin). ` +
        `Reconcile: apps/scheduler's reconcileSchedules (its dist), called in the bench process holding the lease, from an empty Redis and then ` +
        `unchanged. Then a bench-only scheduler entry (bench/src/scale/scale-scheduler.ts: apps/scheduler's main with the generated job list, ` +
        `the scheduler's own Materializer, reconcile and init runner, default lease/lookahead/poll) starts over those schedules: its unchanged ` +
        `reconcile is timed from its "elected leader" to its "reconciled" log line; the target uses the slower of the two. After ${settleS} s of settling, ` +
        `its CPU time (/proc utime+stime) over ${measureS} s gives CPU s per minute at steady state, and RSS is VmRSS at the end (VmHWM for the peak). ` +
        `"No longer leader" lines of that process are counted: with one scheduler, each is a lease lost to its own blocked event loop. ` +
        `Baseline: the same schedules upserted as BullMQ job schedulers, 500 concurrent calls at a time, then upserted again. ` +
        `API schedules, at ${api.map((figures) => figures.schedules).join(', ')}: apps/web, apps/scheduler (lease ${LEASE_TTL_MS} ms, other settings default) and apps/worker ` +
        `(concurrency 100) as processes; the schedules (bench/src/scale/api-schedules.ts: a quarter every 1 min-1 day, the rest crons every 15 min, hourly, daily, ` +
        `weekdays at 9 and monthly in UTC, Europe/Berlin, America/New_York, Asia/Kolkata and Australia/Lord_Howe, with 60 samples every 1 s, every 5 s and ` +
        `* * * * * in the five zones) created with PUT /api/schedules/:id by autocannon, 32 keep-alive connections, while the scheduler leads. Applied is until ` +
        `the leader has a cursor for every schedule. After ${windows.settleS} s, the leader's CPU (/proc utime+stime) over ${windows.measureS} s, and its RSS ` +
        `(VmRSS; peak VmHWM, which includes the creation); Redis bytes per schedule are MEMORY USAGE (SAMPLES 0) of Drumline's schedule keys ÷ schedules. ` +
        `Then ${windows.kills}× a standby apps/scheduler is started and the leader killed with kill -9: takeover is until the cursor of a 1 s schedule moves. ` +
        `Every tick of the samples from 2 s after the settling began to 2 s before the end is counted from the worker's completed runs (job ids <schedule>@<tick>).`,
    };
  },
};

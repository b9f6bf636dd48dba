import { setTimeout as sleep } from 'node:timers/promises';
import { apiScheduleRecord, parseScheduledRunId, ScheduleStore } from '@drumline/core';
import { Queue } from 'bullmq';
import { markInitDone, pingOptions, registry, startBareWorker, startSchedulerApp, startWorkerApp, stopAll, waitForWorkers } from '../support/apps.js';
import type { NodeProcess } from '../support/node-process.js';
import { RunCollector, type TickOf, type TickReport } from '../support/run-collector.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { round } from '../support/stats.js';

const PREFIX = 'bench-prec';
const EVERY_MS = 1000;
/** Enough for 500 runs due in the same millisecond to start together; both sides get the same. */
const CONCURRENCY = 100;
const MAX_P99_MS = 50;

const drumlineTick: TickOf = (id) => {
  const run = parseScheduledRunId(id);
  return run && !run.manual ? { scheduleId: run.scheduleId, tickMs: run.scheduledFor.getTime() } : undefined;
};
const bullmqTick: TickOf = (id) => {
  const match = /^repeat:(.+):(\d+)$/.exec(id);
  return match ? { scheduleId: match[1] as string, tickMs: Number(match[2]) } : undefined;
};

const scheduleIds = (count: number) => Array.from({ length: count }, (_, index) => `prec-${String(index).padStart(4, '0')}`);
/** The first whole second at least `leadMs` from now. */
const wholeSecondAfter = (leadMs: number) => Math.ceil((Date.now() + leadMs) / 1000) * 1000;

/** Collects runs over a window that opens two seconds from now, then waits for its last ticks to finish. */
async function measureWindow(context: BenchContext, collector: RunCollector, ids: string[], windowMs: number, processes: NodeProcess[]): Promise<TickReport> {
  collector.start();
  const from = wholeSecondAfter(2000);
  const to = from + windowMs;
  while (Date.now() < to + 1500) {
    const dead = processes.find((child) => !child.running);
    check(!dead, `${dead?.name} exited during the window:\n${dead?.tail()}`);
    await sleep(250);
  }
  await collector.stop();
  check(collector.longestPollGapMs < 1500, `the run collector stalled for ${round(collector.longestPollGapMs, 0)} ms: runs may have been trimmed unseen`);
  const report = collector.report(ids, EVERY_MS, from, to);
  report.failed = await collector.failedCount();
  context.log(`    ${report.ran}/${report.expected} ticks ran, ${report.duplicates} duplicate(s), p50 ${report.latenessP50Ms} ms, p99 ${report.latenessP99Ms} ms, max ${report.latenessMaxMs} ms`);
  return report;
}

async function drumlineRun(context: BenchContext, ids: string[], windowMs: number): Promise<TickReport> {
  const { redis } = context;
  await redis.flush();
  await markInitDone(redis.client, PREFIX);
  const store = new ScheduleStore(redis.client, PREFIX);
  for (const id of ids) await store.putFromApi(apiScheduleRecord(registry, id, { job: 'ping', every: EVERY_MS }));
  const worker = startWorkerApp(redis, PREFIX, CONCURRENCY);
  let scheduler: NodeProcess | undefined;
  try {
    await waitForWorkers(redis, PREFIX, 'default', 1, 15_000, [worker]);
    scheduler = startSchedulerApp(redis, PREFIX);
    await scheduler.waitForMsg('materializing schedules', 30_000);
    const collector = new RunCollector(redis.client, `${PREFIX}:default`, drumlineTick);
    return await measureWindow(context, collector, ids, windowMs, [worker, scheduler]);
  } finally {
    await stopAll([scheduler, worker]);
  }
}

async function bullmqRun(context: BenchContext, ids: string[], windowMs: number): Promise<TickReport> {
  const { redis } = context;
  await redis.flush();
  const worker = startBareWorker(redis, PREFIX, CONCURRENCY);
  const queue = new Queue('default', { connection: redis.client, prefix: PREFIX });
  try {
    await waitForWorkers(redis, PREFIX, 'default', 1, 15_000, [worker]);
    // startDate on a whole second aligns every scheduler's ticks, as Drumline's epoch-aligned `every` is:
    // both sides then have all their schedules due in the same millisecond.
    const startDate = wholeSecondAfter(2000);
    const { attempts, backoff, removeOnComplete, removeOnFail } = pingOptions;
    await Promise.all(
      ids.map((id) =>
        queue.upsertJobScheduler(id, { every: EVERY_MS, startDate }, { name: 'ping', data: {}, opts: { attempts, backoff, removeOnComplete, removeOnFail } }),
      ),
    );
    check(Date.now() < startDate, 'upserting the job schedulers took past their start date');
    const collector = new RunCollector(redis.client, `${PREFIX}:default`, bullmqTick);
    return await measureWindow(context, collector, ids, windowMs, [worker]);
  } finally {
    await stopAll([worker]);
    await queue.close();
  }
}

function checkRuns(side: string, report: TickReport): void {
  check(report.failed === 0, `${side}: ${report.failed} run(s) failed`);
}

export const schedulePrecision: Scenario = {
  name: 'schedule-precision',
  target: `0 duplicates, 0 missed, p99 lateness <= BullMQ's p99 and <= ${MAX_P99_MS} ms`,
  async run(context: BenchContext): Promise<Measured> {
    const count = context.quick ? 100 : 500;
    const windowMs = context.quick ? 5000 : 30_000;
    const ids = scheduleIds(count);
    context.log('  drumline (apps/scheduler + apps/worker):');
    const drumline = await drumlineRun(context, ids, windowMs);
    context.log('  baseline (BullMQ upsertJobScheduler + bare worker):');
    const baseline = await bullmqRun(context, ids, windowMs);
    checkRuns('drumline', drumline);
    checkRuns('baseline', baseline);
    const problems = [
      drumline.duplicates > 0 ? `${drumline.duplicates} duplicate run(s)` : '',
      drumline.missed > 0 ? `${drumline.missed} missed tick(s)` : '',
      drumline.latenessP99Ms > baseline.latenessP99Ms ? `p99 ${drumline.latenessP99Ms} ms > BullMQ's ${baseline.latenessP99Ms} ms` : '',
      drumline.latenessP99Ms > MAX_P99_MS ? `p99 ${drumline.latenessP99Ms} ms > ${MAX_P99_MS} ms` : '',
    ].filter(Boolean);
    const describe = (report: TickReport) =>
      `p50 ${report.latenessP50Ms} / p99 ${report.latenessP99Ms} / max ${report.latenessMaxMs} ms; ${report.duplicates} dup, ${report.missed} missed of ${report.expected}`;
    return {
      drumline: { ...drumline, schedules: count, windowS: windowMs / 1000, concurrency: CONCURRENCY },
      baseline: { ...baseline, schedules: count, windowS: windowMs / 1000, concurrency: CONCURRENCY },
      ratio: round(baseline.latenessP99Ms / Math.max(drumline.latenessP99Ms, 0.1), 3),
      ratioOf: "BullMQ's p99 lateness ÷ Drumline's p99 lateness",
      pass: problems.length === 0,
      ...(problems.length > 0 ? { missed: problems.join('; ') } : {}),
      summary: { drumline: describe(drumline), baseline: describe(baseline) },
      method:
        `${count} schedules every ${EVERY_MS} ms, ticks counted over a ${windowMs / 1000} s window opening 2 s after the system was running. ` +
        `Drumline: api schedules written with ScheduleStore.putFromApi, apps/scheduler (defaults: lease 5 s, lookahead 15 s, poll 500 ms) and ` +
        `apps/worker at concurrency ${CONCURRENCY}. Baseline: BullMQ upsertJobScheduler({ every: ${EVERY_MS}, startDate on a whole second, so its ticks ` +
        `align like Drumline's }) and a bare worker at the same concurrency. Lateness = the job's processedOn − its nominal tick (from the job id), ` +
        `read from every completed job by polling the completed set every 200 ms (ping keeps only the last 1000). Runs one after the other, Drumline first.`,
    };
  },
};

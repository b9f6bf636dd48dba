import { setTimeout as sleep } from 'node:timers/promises';
import { apiScheduleRecord, parseScheduledRunId, ScheduleStore } from '@drumline/core';
import { Queue } from 'bullmq';
import { markInitDone, pingOptions, registry, startBareWorker, startSchedulerApp, startWorkerApp, stopAll, waitForWorkers } from '../support/apps.js';
import type { NodeProcess } from '../support/node-process.js';
import type { RedisServer } from '../support/redis-server.js';
import { RunCollector, type TickOf, type TickReport } from '../support/run-collector.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { percentile, round } from '../support/stats.js';

const PREFIX = 'bench-prec';
const EVERY_MS = 1000;
/** Enough for 500 runs due in the same millisecond to start together; both sides get the same. */
const CONCURRENCY = Number(process.env.PREC_CONC ?? 100);
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

export interface PrecisionReport extends TickReport {
  /** When the runs of sampled ticks became ready to start (their `waiting` event), after the tick: the scheduler's share of the lateness. */
  promotedP50Ms: number;
  promotedMaxMs: number;
  sampledTicks: number;
}

/**
 * How long after `tickMs` each run of that tick was moved to `wait` (ready for a worker), from the
 * queue's event stream, whose entry ids are Redis's clock. It is the scheduler's share of the lateness;
 * the rest is the worker picking up every run due at once. Read soon after the tick: the stream is capped.
 */
async function promotionDelays(redis: RedisServer, queueKey: string, tickMs: number, tickOf: TickOf): Promise<number[]> {
  const entries = await redis.client.xrange(`${queueKey}:events`, String(tickMs - 1000), String(tickMs + 2000));
  const delays: number[] = [];
  for (const [entryId, fields] of entries) {
    const event = fields[fields.indexOf('event') + 1];
    const jobId = fields[fields.indexOf('jobId') + 1];
    if (event !== 'waiting' || !jobId || tickOf(jobId)?.tickMs !== tickMs) continue;
    delays.push(Number(entryId.split('-')[0]) - tickMs);
  }
  return delays;
}

/** Collects runs over a window that opens two seconds from now, then waits for its last ticks to finish. */
async function measureWindow(
  context: BenchContext,
  collector: RunCollector,
  tickOf: TickOf,
  ids: string[],
  windowMs: number,
  processes: NodeProcess[],
): Promise<PrecisionReport> {
  collector.start();
  const from = wholeSecondAfter(2000);
  const to = from + windowMs;
  const promoted: number[] = [];
  let sampledTicks = 0;
  let nextSample = from;
  while (Date.now() < to + 1500) {
    const dead = processes.find((child) => !child.running);
    check(!dead, `${dead?.name} exited during the window:\n${dead?.tail()}`);
    if (nextSample < to && Date.now() >= nextSample + 1500) {
      promoted.push(...(await promotionDelays(context.redis, `${PREFIX}:default`, nextSample, tickOf)));
      sampledTicks += 1;
      nextSample += 5000;
    }
    await sleep(250);
  }
  await collector.stop();
  check(collector.longestPollGapMs < 1500, `the run collector stalled for ${round(collector.longestPollGapMs, 0)} ms: runs may have been trimmed unseen`);
  const report: PrecisionReport = {
    ...collector.report(ids, EVERY_MS, from, to),
    failed: await collector.failedCount(),
    promotedP50Ms: round(percentile(promoted, 50), 1),
    promotedMaxMs: round(Math.max(...promoted), 1),
    sampledTicks,
  };
  context.log(
    `    ${report.ran}/${report.expected} ticks ran, ${report.duplicates} duplicate(s), lateness p50 ${report.latenessP50Ms} ms, ` +
      `p99 ${report.latenessP99Ms} ms, max ${report.latenessMaxMs} ms; ready to start after p50 ${report.promotedP50Ms} / max ${report.promotedMaxMs} ms`,
  );
  return report;
}

async function drumlineRun(context: BenchContext, ids: string[], windowMs: number): Promise<PrecisionReport> {
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
    return await measureWindow(context, collector, drumlineTick, ids, windowMs, [worker, scheduler]);
  } finally {
    await stopAll([scheduler, worker]);
  }
}

async function bullmqRun(context: BenchContext, ids: string[], windowMs: number): Promise<PrecisionReport> {
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
    return await measureWindow(context, collector, bullmqTick, ids, windowMs, [worker]);
  } finally {
    await stopAll([worker]);
    await queue.close();
  }
}

function checkRuns(side: string, report: PrecisionReport): void {
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
    const describe = (report: PrecisionReport) =>
      `p50 ${report.latenessP50Ms} / p99 ${report.latenessP99Ms} / max ${report.latenessMaxMs} ms; ${report.duplicates} dup, ` +
      `${report.missed} missed of ${report.expected}; ready to start within ${report.promotedMaxMs} ms`;
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
        `align like Drumline's }) and a bare worker at the same concurrency. Lateness = when the handler ran (the "at" that ping returns, and the bare worker returns the same) − its nominal tick (from the job id), ` +
        `read from every completed job by polling the completed set every 200 ms (ping keeps only the last 1000). "Ready to start" splits it: ` +
        `for one tick every 5 s, when each of its runs was moved to wait (its \`waiting\` event in the queue's stream, on Redis's clock) after the tick; ` +
        `the rest of the lateness is the worker picking up every run due at once. Runs one after the other, Drumline first.`,
    };
  },
};

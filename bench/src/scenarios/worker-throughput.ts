import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { pingOptions, startBareWorker, startWorkerApp, stopAll, waitForWorkers } from '../support/apps.js';
import type { NodeProcess } from '../support/node-process.js';
import type { RedisServer } from '../support/redis-server.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { median, medianPairedRatio, round } from '../support/stats.js';

const PREFIX = 'bench-tp';
const CONCURRENCY = 10;

interface Run {
  jobsPerSec: number;
  /** The worker process's CPU time (user + system) per 1000 jobs: less swayed by a busy machine than jobs/s. */
  cpuMsPer1000Jobs: number;
}

/**
 * Fills `default` with `count` ping jobs (Drumline's options, but kept on completion so every one
 * can be counted) while the queue is paused, starts one worker process, waits for it to connect,
 * resumes the queue, and times the jobs from the first start to the last finish, read back from the
 * jobs themselves (processedOn, finishedOn): start-up is not counted, in time or in CPU.
 */
async function runOnce(redis: RedisServer, count: number, start: () => NodeProcess, handlerRuns: boolean): Promise<Run> {
  await redis.flush();
  const queue = new Queue('default', { connection: redis.client, prefix: PREFIX });
  let worker: NodeProcess | undefined;
  try {
    await queue.pause();
    for (let done = 0; done < count; done += 1000) {
      const size = Math.min(1000, count - done);
      await queue.addBulk(Array.from({ length: size }, () => ({ name: 'ping', data: {}, opts: { ...pingOptions, removeOnComplete: false } })));
    }
    worker = start();
    await waitForWorkers(redis, PREFIX, 'default', 1, 15_000, [worker]);
    // Let module loading and connection set-up finish before the CPU clock starts.
    await sleep(500);
    const cpuBefore = worker.cpuMs();
    await queue.resume();
    const deadline = Date.now() + 180_000;
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      check(counts.failed === 0, `${counts.failed} job(s) failed in ${worker.name}`);
      if (counts.completed === count) break;
      check(worker.running, `${worker.name} exited with ${count - (counts.completed ?? 0)} job(s) left:\n${worker.tail()}`);
      check(Date.now() < deadline, `${worker.name} completed ${counts.completed} of ${count} jobs in 180 s`);
      await sleep(50);
    }
    const cpuMs = worker.cpuMs() - cpuBefore;
    const ids = await redis.client.zrange(`${PREFIX}:default:completed`, 0, -1);
    check(ids.length === count, `completed set holds ${ids.length} jobs, expected ${count}`);
    const pipeline = redis.client.pipeline();
    for (const id of ids) pipeline.hmget(`${PREFIX}:default:${id}`, 'processedOn', 'finishedOn', 'returnvalue');
    const rows = ((await pipeline.exec()) ?? []).map(([, row]) => row as [string, string, string | null]);
    const started = Math.min(...rows.map((row) => Number(row[0])));
    const finished = Math.max(...rows.map((row) => Number(row[1])));
    if (handlerRuns) {
      const ran = rows.filter((row) => row[2]?.includes('"pid"')).length;
      check(ran === count, `only ${ran} of ${count} runs returned ping's result: the handler did not run for the others`);
    }
    return { jobsPerSec: (count * 1000) / (finished - started), cpuMsPer1000Jobs: (cpuMs * 1000) / count };
  } finally {
    await stopAll([worker]);
    await queue.close();
  }
}

export const workerThroughput: Scenario = {
  name: 'worker-throughput',
  target: 'jobs/s ratio (Drumline ÷ baseline) >= 0.90',
  async run({ redis, quick, log }: BenchContext): Promise<Measured> {
    const count = quick ? 5000 : 20_000;
    const repeats = quick ? 1 : 9;
    const drumline: Run[] = [];
    const baseline: Run[] = [];
    for (let round_ = 1; round_ <= repeats; round_ += 1) {
      // Alternate which goes first, so a slow spell of the machine does not always hit the same side.
      const order = round_ % 2 === 1 ? (['drumline', 'baseline'] as const) : (['baseline', 'drumline'] as const);
      for (const side of order) {
        const run =
          side === 'drumline'
            ? await runOnce(redis, count, () => startWorkerApp(redis, PREFIX, CONCURRENCY), true)
            : await runOnce(redis, count, () => startBareWorker(redis, PREFIX, CONCURRENCY), false);
        (side === 'drumline' ? drumline : baseline).push(run);
        log(`  round ${round_} ${side}: ${round(run.jobsPerSec, 0)} jobs/s, ${round(run.cpuMsPer1000Jobs, 0)} CPU ms per 1000 jobs`);
      }
    }
    const d = median(drumline.map((run) => run.jobsPerSec));
    const b = median(baseline.map((run) => run.jobsPerSec));
    const ratio = round(medianPairedRatio(drumline.map((run) => run.jobsPerSec), baseline.map((run) => run.jobsPerSec)), 3);
    const figures = (runs: Run[], jobsPerSec: number) => ({
      jobsPerSec: round(jobsPerSec, 0),
      cpuMsPer1000Jobs: round(median(runs.map((run) => run.cpuMsPer1000Jobs)), 0),
      runsJobsPerSec: runs.map((run) => round(run.jobsPerSec, 0)),
      jobs: count,
      concurrency: CONCURRENCY,
    });
    const dFigures = figures(drumline, d);
    const bFigures = figures(baseline, b);
    return {
      drumline: dFigures,
      baseline: bFigures,
      ratio,
      ratioOf: 'median over the rounds of Drumline jobs/s ÷ baseline jobs/s in the same round',
      pass: ratio >= 0.9,
      ...(ratio < 0.9 ? { missed: `ratio ${ratio} < 0.90` } : {}),
      summary: {
        drumline: `${dFigures.jobsPerSec} jobs/s, ${dFigures.cpuMsPer1000Jobs} CPU ms/1000 jobs`,
        baseline: `${bFigures.jobsPerSec} jobs/s, ${bFigures.cpuMsPer1000Jobs} CPU ms/1000 jobs`,
      },
      method:
        `${count} ping jobs pre-filled on one queue with Drumline's job options (kept on completion so each is counted); ` +
        `one worker process at concurrency ${CONCURRENCY}: apps/worker (LOG_LEVEL=warn) vs a bare BullMQ Worker whose processor does what ping does (returns { pid, at }). ` +
        `Time = last finishedOn − first processedOn, so process start-up is excluded; the queue stays paused until the worker is connected. ` +
        `CPU = the worker process's utime+stime from resume to the last completion, per 1000 jobs (steadier than jobs/s when the machine is busy). ` +
        `${repeats} round(s), each a run of both sides back to back, which side goes first alternating; jobs/s are the medians of the runs, ` +
        `the ratio the median of the rounds' ratios; ` +
        `every job completed, none failed, and every Drumline run returned ping's result.`,
    };
  },
};

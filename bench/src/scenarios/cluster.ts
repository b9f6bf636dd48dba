import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { keyLayoutOf, queuePrefix } from '@drumline/core/runtime';
import { Queue } from 'bullmq';
import autocannon from 'autocannon';
import { API_TOKEN, appEnv, markInitDone, pingOptions, stopAll, waitForWorkers, waitHttpReady } from '../support/apps.js';
import type { RedisTarget } from '../support/redis-server.js';
import { entries, NodeProcess } from '../support/node-process.js';
import { BenchCluster } from '../support/redis-cluster.js';
import { freePort } from '../support/redis-server.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { median, medianPairedRatio, round } from '../support/stats.js';
import { summarize, type HttpRun } from './http.js';

// The same apps, the same jobs on three queues, against a Redis Cluster of three primaries and
// against one Redis, on this one machine: what the cluster layout and the cluster client cost.
// The three queues' names hash to the three primaries (tests/jobs/src/sharded-pings.ts).

const PREFIX = 'bench-cluster';
const JOBS = [
  { name: 'ping', queue: 'default' },
  { name: 'ping-reports', queue: 'reports' },
  { name: 'ping-tenants', queue: 'tenants' },
] as const;
const JOBS_MODULE = fileURLToPath(import.meta.resolve('@drumline/test-jobs/cluster'));
const CONCURRENCY = 10;
const CONNECTIONS = 50;

type Side = 'cluster' | 'single';
interface Target extends RedisTarget {
  flush(): Promise<void>;
}

function queuesOn(target: Target): Queue[] {
  return JOBS.map(({ queue }) => new Queue(queue, { connection: target.client, prefix: queuePrefix(PREFIX, queue, keyLayoutOf(target.client)) }));
}

/** Paired rounds of `measure` on both sides, which goes first alternating, with both flushed before each run. */
async function pairedRounds<Run>(targets: Record<Side, Target>, repeats: number, measure: (side: Side, target: Target) => Promise<Run>): Promise<Record<Side, Run[]>> {
  const runs: Record<Side, Run[]> = { cluster: [], single: [] };
  for (let round_ = 1; round_ <= repeats; round_ += 1) {
    for (const side of round_ % 2 === 1 ? (['cluster', 'single'] as const) : (['single', 'cluster'] as const)) {
      await targets[side].flush();
      runs[side].push(await measure(side, targets[side]));
    }
  }
  return runs;
}

/** The benchmark's single Redis and a cluster started for the scenario, stopped after it. */
async function withCluster<T>({ redis }: BenchContext, work: (targets: Record<Side, Target>) => Promise<T>): Promise<T> {
  const cluster = await BenchCluster.start(3);
  try {
    return await work({ cluster, single: redis });
  } finally {
    await cluster.stop();
  }
}

interface WorkerRun {
  jobsPerSec: number;
  cpuMsPer1000Jobs: number;
}

/**
 * As worker-throughput, on three queues: `count` jobs spread over them while they are paused, one
 * worker process on all three, timed from the first start to the last finish read from the jobs.
 */
async function workerRun(target: Target, count: number): Promise<WorkerRun> {
  const queues = queuesOn(target);
  let worker: NodeProcess | undefined;
  try {
    for (const [index, queue] of queues.entries()) {
      await queue.pause();
      const share = Math.floor(count / JOBS.length) + (index < count % JOBS.length ? 1 : 0);
      for (let done = 0; done < share; done += 1000) {
        const size = Math.min(1000, share - done);
        await queue.addBulk(Array.from({ length: size }, () => ({ name: JOBS[index]?.name ?? '', data: {}, opts: { ...pingOptions, removeOnComplete: false } })));
      }
    }
    worker = NodeProcess.start('drumline worker', entries.worker, appEnv(target, PREFIX, { JOBS_MODULE, WORKER_CONCURRENCY: String(CONCURRENCY) }));
    for (const { queue } of JOBS) await waitForWorkers(target, PREFIX, queue, 1, 20_000, [worker]);
    await sleep(500); // module loading and connections settle before the CPU clock starts
    const cpuBefore = worker.cpuMs();
    await Promise.all(queues.map((queue) => queue.resume()));
    const deadline = Date.now() + 180_000;
    for (;;) {
      const counts = await Promise.all(queues.map((queue) => queue.getJobCounts('completed', 'failed')));
      const failed = counts.reduce((sum, c) => sum + (c.failed ?? 0), 0);
      const completed = counts.reduce((sum, c) => sum + (c.completed ?? 0), 0);
      check(failed === 0, `${failed} job(s) failed in ${worker.name}`);
      if (completed === count) break;
      check(worker.running, `${worker.name} exited with ${count - completed} job(s) left:\n${worker.tail()}`);
      check(Date.now() < deadline, `${worker.name} completed ${completed} of ${count} jobs in 180 s`);
      await sleep(50);
    }
    const cpuMs = worker.cpuMs() - cpuBefore;
    let [started, finished, ran] = [Number.POSITIVE_INFINITY, 0, 0];
    for (const queue of queues) {
      // One pipeline per queue: a queue's keys share a slot on the cluster.
      const ids = await target.client.zrange(queue.keys.completed as string, 0, -1);
      const pipeline = target.client.pipeline();
      for (const id of ids) pipeline.hmget(queue.toKey(id), 'processedOn', 'finishedOn', 'returnvalue');
      for (const [, row] of (await pipeline.exec()) ?? []) {
        const [processedOn, finishedOn, returnvalue] = row as [string, string, string | null];
        started = Math.min(started, Number(processedOn));
        finished = Math.max(finished, Number(finishedOn));
        if (returnvalue?.includes('"pid"')) ran += 1;
      }
    }
    check(ran === count, `only ${ran} of ${count} runs returned ping's result`);
    return { jobsPerSec: (count * 1000) / (finished - started), cpuMsPer1000Jobs: (cpuMs * 1000) / count };
  } finally {
    await stopAll([worker]);
    await Promise.all(queues.map((queue) => queue.close()));
  }
}

export const clusterWorkerThroughput: Scenario = {
  name: 'cluster-worker-throughput',
  target: 'jobs/s ratio (3-shard Cluster ÷ one Redis) >= 0.80',
  async run(context: BenchContext): Promise<Measured> {
    const count = context.quick ? 6000 : 30_000;
    const repeats = context.quick ? 1 : 5;
    const runs = await withCluster(context, (targets) =>
      pairedRounds(targets, repeats, async (side, target) => {
        const run = await workerRun(target, count);
        context.log(`  ${side}: ${round(run.jobsPerSec, 0)} jobs/s, ${round(run.cpuMsPer1000Jobs, 0)} CPU ms per 1000 jobs`);
        return run;
      }),
    );
    const ratio = round(medianPairedRatio(runs.cluster.map((run) => run.jobsPerSec), runs.single.map((run) => run.jobsPerSec)), 3);
    const figures = (side: Side) => ({
      jobsPerSec: round(median(runs[side].map((run) => run.jobsPerSec)), 0),
      cpuMsPer1000Jobs: round(median(runs[side].map((run) => run.cpuMsPer1000Jobs)), 0),
      runsJobsPerSec: runs[side].map((run) => round(run.jobsPerSec, 0)),
      jobs: count,
      queues: JOBS.length,
      concurrencyPerQueue: CONCURRENCY,
    });
    const [cluster, single] = [figures('cluster'), figures('single')];
    return {
      drumline: cluster,
      baseline: single,
      ratio,
      ratioOf: "median over the rounds of the cluster's jobs/s ÷ one Redis's jobs/s in the same round",
      pass: ratio >= 0.8,
      ...(ratio < 0.8 ? { missed: `ratio ${ratio} < 0.80` } : {}),
      summary: {
        drumline: `Cluster: ${cluster.jobsPerSec} jobs/s, ${cluster.cpuMsPer1000Jobs} CPU ms/1000 jobs`,
        baseline: `one Redis: ${single.jobsPerSec} jobs/s, ${single.cpuMsPer1000Jobs} CPU ms/1000 jobs`,
      },
      method:
        `${count} ping jobs pre-filled over three queues (default, reports, tenants; on the cluster each on a primary of its own) with Drumline's job options, kept on completion; ` +
        `one apps/worker process on all three at concurrency ${CONCURRENCY} each, against a Redis Cluster of three primaries (no replicas) and against one Redis, both on this machine. ` +
        `Time = last finishedOn − first processedOn over the three queues; CPU = the worker's utime+stime from resume to the last completion, per 1000 jobs. ` +
        `${repeats} round(s) of both sides back to back, which goes first alternating; the ratio is the median of the rounds' ratios; every job completed and returned ping's result.`,
    };
  },
};

/** Every enqueued job on the three queues once the count has stopped growing: the web finished every request it had. */
async function settledJobs(target: Target): Promise<number> {
  const queues = queuesOn(target);
  try {
    let last = -1;
    for (;;) {
      const now = (await Promise.all(queues.map((queue) => target.client.llen(queue.keys.wait as string)))).reduce((sum, n) => sum + n, 0);
      if (now === last) return now;
      last = now;
      await sleep(300);
    }
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
  }
}

/** `POST /api/jobs/<name>` on the three jobs in turn, from each of CONNECTIONS connections. */
function fire(url: string, durationS: number): Promise<autocannon.Result> {
  const headers = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ data: { note: 'bench' } });
  return autocannon({ url, connections: CONNECTIONS, duration: durationS, requests: JOBS.map(({ name }) => ({ method: 'POST', path: `/api/jobs/${name}`, headers, body })) });
}

export const clusterHttpEnqueue: Scenario = {
  name: 'cluster-http-enqueue',
  target: 'req/s ratio (3-shard Cluster ÷ one Redis) >= 0.80',
  async run(context: BenchContext): Promise<Measured> {
    const durationS = context.quick ? 2 : 10;
    const repeats = context.quick ? 1 : 5;
    const runs = await withCluster(context, async (targets) => {
      const webs = {} as Record<Side, { child: NodeProcess; url: string }>;
      try {
        for (const side of ['cluster', 'single'] as const) {
          await markInitDone(targets[side].client, PREFIX);
          const port = await freePort();
          const env = appEnv(targets[side], PREFIX, { JOBS_MODULE, PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'bench', DASHBOARD_PASSWORD: 'bench-password-123' });
          webs[side] = { child: NodeProcess.start(`drumline web (${side})`, entries.web, env), url: `http://127.0.0.1:${port}` };
          await waitHttpReady(webs[side].child, `${webs[side].url}/readyz`);
          await fire(webs[side].url, context.quick ? 1 : 2); // warm-up
        }
        return await pairedRounds(targets, repeats, async (side, target): Promise<HttpRun> => {
          const { child, url } = webs[side];
          await markInitDone(target.client, PREFIX);
          const cpuBefore = child.cpuMs();
          const run = await fire(url, durationS);
          const added = await settledJobs(target);
          const cpuMs = child.cpuMs() - cpuBefore;
          check(run.errors === 0 && run.timeouts === 0 && run.non2xx === 0, `${child.name}: ${run.errors} error(s), ${run.timeouts} timeout(s), ${run.non2xx} non-2xx`);
          check(added >= run['2xx'] && added <= run['2xx'] + CONNECTIONS, `${child.name}: ${run['2xx']} accepted request(s), but ${added} jobs in the queues`);
          const measured = { requestsPerSec: run['2xx'] / run.duration, jobsPerSec: run['2xx'] / run.duration, latencyP99Ms: run.latency.p99, ok: run['2xx'], cpuUsPerJob: (cpuMs * 1000) / Math.max(added, 1) };
          context.log(`  ${side}: ${round(measured.requestsPerSec, 0)} req/s, p99 ${measured.latencyP99Ms} ms, ${round(measured.cpuUsPerJob, 0)} CPU µs per request`);
          return measured;
        });
      } finally {
        await stopAll(Object.values(webs).map((web) => web.child));
      }
    });
    const ratio = round(medianPairedRatio(runs.cluster.map((run) => run.requestsPerSec), runs.single.map((run) => run.requestsPerSec)), 3);
    const [cluster, single] = [summarize(runs.cluster), summarize(runs.single)];
    return {
      drumline: { ...cluster, connections: CONNECTIONS, seconds: durationS },
      baseline: { ...single, connections: CONNECTIONS, seconds: durationS },
      ratio,
      ratioOf: "median over the rounds of the cluster's req/s ÷ one Redis's req/s in the same round",
      pass: ratio >= 0.8,
      ...(ratio < 0.8 ? { missed: `ratio ${ratio} < 0.80` } : {}),
      summary: {
        drumline: `Cluster: ${cluster.requestsPerSec} req/s, p99 ${cluster.latencyP99Ms} ms, ${cluster.serverCpuUsPerJob} CPU µs/req`,
        baseline: `one Redis: ${single.requestsPerSec} req/s, p99 ${single.latencyP99Ms} ms, ${single.serverCpuUsPerJob} CPU µs/req`,
      },
      method:
        `autocannon, ${CONNECTIONS} connections, ${durationS} s per run after a warm-up, each connection posting to ping, ping-reports and ping-tenants in turn (three queues), ` +
        `against two apps/web processes running side by side: one on a Redis Cluster of three primaries, one on one Redis, both on this machine. ` +
        `Every response was 2xx and the queues held one job per 2xx (plus at most one per connection in flight at the end). Server CPU = the web's utime+stime per job added. ` +
        `${repeats} round(s) of both sides back to back, which goes first alternating; figures are medians of the runs, the ratio the median of the rounds' ratios.`,
    };
  },
};

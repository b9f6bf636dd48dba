import type { BenchContext, Measured, Scenario } from '../support/scenario.js';
import { medianPairedRatio, round } from '../support/stats.js';
import { compareHttp, summarize } from './http.js';

const CONNECTIONS = 50;

export const httpEnqueue: Scenario = {
  name: 'http-enqueue',
  target: 'req/s ratio (Drumline ÷ baseline) >= 0.80',
  async run(context: BenchContext): Promise<Measured> {
    const body = JSON.stringify({ data: { note: 'bench' } });
    const runs = await compareHttp(context, { path: '/api/jobs/ping', body, jobsPerRequest: 1, connections: CONNECTIONS });
    const drumline = summarize(runs.drumline);
    const baseline = summarize(runs.baseline);
    const ratio = round(medianPairedRatio(runs.drumline.map((run) => run.requestsPerSec), runs.baseline.map((run) => run.requestsPerSec)), 3);
    const seconds = context.quick ? 2 : 10;
    return {
      drumline: { ...drumline, connections: CONNECTIONS, seconds },
      baseline: { ...baseline, connections: CONNECTIONS, seconds },
      ratio,
      ratioOf: 'median over the rounds of Drumline req/s ÷ baseline req/s in the same round',
      pass: ratio >= 0.8,
      ...(ratio < 0.8 ? { missed: `ratio ${ratio} < 0.80` } : {}),
      summary: {
        drumline: `${drumline.requestsPerSec} req/s, p99 ${drumline.latencyP99Ms} ms, ${drumline.serverCpuUsPerJob} CPU µs/req`,
        baseline: `${baseline.requestsPerSec} req/s, p99 ${baseline.latencyP99Ms} ms, ${baseline.serverCpuUsPerJob} CPU µs/req`,
      },
      method:
        `autocannon (in the bench process), ${CONNECTIONS} connections, ${seconds} s per run after a warm-up, runs alternating between ` +
        `apps/web \`POST /api/jobs/ping\` (bearer auth, zod validation, LOG_LEVEL=warn) and a bare Fastify route calling \`queue.add\` ` +
        `with the same job options. Server CPU = its process's utime+stime per job added. Every response was 2xx and Redis held one job per 2xx (plus those of requests still in flight when autocannon stopped, at most one per connection). Figures are medians of the runs; the ratio is the median of the rounds' ratios (each round runs both sides back to back).`,
    };
  },
};

import type { BenchContext, Measured, Scenario } from '../support/scenario.js';
import { medianPairedRatio, round } from '../support/stats.js';
import { compareHttp, summarize } from './http.js';

const ITEMS = 1000;
const CONNECTIONS = 8;

export const bulkEnqueue: Scenario = {
  name: 'bulk-enqueue',
  target: 'jobs/s ratio (Drumline ÷ baseline) >= 0.85',
  async run(context: BenchContext): Promise<Measured> {
    const body = JSON.stringify({ items: Array.from({ length: ITEMS }, (_, index) => ({ data: { note: `bench ${index}` } })) });
    const runs = await compareHttp(context, { path: '/api/jobs/ping/bulk', body, jobsPerRequest: ITEMS, connections: CONNECTIONS });
    const drumline = summarize(runs.drumline);
    const baseline = summarize(runs.baseline);
    const ratio = round(medianPairedRatio(runs.drumline.map((run) => run.jobsPerSec), runs.baseline.map((run) => run.jobsPerSec)), 3);
    const seconds = context.quick ? 2 : 10;
    return {
      drumline: { ...drumline, itemsPerRequest: ITEMS, connections: CONNECTIONS, seconds },
      baseline: { ...baseline, itemsPerRequest: ITEMS, connections: CONNECTIONS, seconds },
      ratio,
      ratioOf: 'median over the rounds of Drumline jobs/s ÷ baseline jobs/s in the same round',
      pass: ratio >= 0.85,
      ...(ratio < 0.85 ? { missed: `ratio ${ratio} < 0.85` } : {}),
      summary: {
        drumline: `${drumline.jobsPerSec} jobs/s (${drumline.requestsPerSec} req/s), ${drumline.serverCpuUsPerJob} CPU µs/job`,
        baseline: `${baseline.jobsPerSec} jobs/s (${baseline.requestsPerSec} req/s), ${baseline.serverCpuUsPerJob} CPU µs/job`,
      },
      method:
        `autocannon, ${CONNECTIONS} connections, ${seconds} s per run after a warm-up, each request carrying ${ITEMS} ping payloads: ` +
        `apps/web \`POST /api/jobs/ping/bulk\` (auth, every item validated) vs a bare Fastify route calling \`queue.addBulk\` with the same ` +
        `job options. Server CPU = its process's utime+stime per job added. Runs alternate; every response was 2xx and Redis held ${ITEMS} jobs per 2xx, whole requests only (plus those still in flight when autocannon stopped). Figures are medians of the runs; the ratio is the median of the rounds' ratios (each round runs both sides back to back).`,
    };
  },
};

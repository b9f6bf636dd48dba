import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { API_TOKEN, appEnv, markInitDone, pingOptions, waitHttpReady } from '../support/apps.js';
import { entries, NodeProcess } from '../support/node-process.js';
import { freePort, type RedisServer } from '../support/redis-server.js';
import { check, type BenchContext } from '../support/scenario.js';
import { median, round } from '../support/stats.js';

const PREFIX = 'bench-http';

export interface HttpRun {
  requestsPerSec: number;
  jobsPerSec: number;
  latencyP99Ms: number;
  ok: number;
  /** The server process's CPU time per job it added, in µs: steadier than req/s on a busy machine. */
  cpuUsPerJob: number;
}

export interface HttpComparison {
  drumline: HttpRun[];
  baseline: HttpRun[];
}

interface Server {
  side: 'drumline' | 'baseline';
  child: NodeProcess;
  url: string;
}

async function startServers(redis: RedisServer): Promise<Server[]> {
  await markInitDone(redis.client, PREFIX);
  const [webPort, barePort] = [await freePort(), await freePort()];
  const servers: Server[] = [
    {
      side: 'drumline',
      url: `http://127.0.0.1:${webPort}`,
      child: NodeProcess.start(
        'drumline web',
        entries.web,
        appEnv(redis, PREFIX, { PORT: String(webPort), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'bench', DASHBOARD_PASSWORD: 'bench-password-123' }),
      ),
    },
    {
      side: 'baseline',
      url: `http://127.0.0.1:${barePort}`,
      child: NodeProcess.start('bare fastify', entries.bareWeb, {
        REDIS_URL: redis.url,
        KEY_PREFIX: PREFIX,
        PORT: String(barePort),
        JOB_OPTS: JSON.stringify(pingOptions),
      }),
    },
  ];
  await Promise.all(servers.map((server) => waitHttpReady(server.child, `${server.url}/readyz`)));
  return servers;
}

/** The length of the wait list once it has stopped growing: the server has finished every request it had. */
async function settledWaitCount(redis: RedisServer): Promise<number> {
  let last = -1;
  for (;;) {
    const now = await redis.client.llen(`${PREFIX}:default:wait`);
    if (now === last) return now;
    last = now;
    await sleep(300);
  }
}

function fire(url: string, path: string, body: string, connections: number, durationS: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${url}${path}`,
    method: 'POST',
    connections,
    duration: durationS,
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body,
  });
}

/**
 * Both servers run side by side (the idle one costs nothing); measured runs alternate between them,
 * each after a warm-up, with Redis flushed before each so both start from the same state. Checks
 * that every request answered 2xx and that Redis holds exactly the jobs the 2xx answers promised.
 */
export async function compareHttp(
  { redis, quick, log }: BenchContext,
  request: { path: string; body: string; jobsPerRequest: number; connections: number },
): Promise<HttpComparison> {
  const durationS = quick ? 2 : 10;
  const repeats = quick ? 1 : 5;
  const servers = await startServers(redis);
  const result: HttpComparison = { drumline: [], baseline: [] };
  try {
    for (const server of servers) {
      await fire(server.url, request.path, request.body, request.connections, quick ? 1 : 2);
      await settledWaitCount(redis);
    }
    for (let round_ = 1; round_ <= repeats; round_ += 1) {
      const order = round_ % 2 === 1 ? servers : [...servers].reverse();
      for (const server of order) {
        await redis.flush();
        await markInitDone(redis.client, PREFIX);
        const cpuBefore = server.child.cpuMs();
        const run = await fire(server.url, request.path, request.body, request.connections, durationS);
        // autocannon stops counting at the deadline while up to one request per connection is still
        // in flight; the server may still add their jobs. Wait for Redis to settle, then allow exactly that much.
        const waiting = await settledWaitCount(redis);
        const cpuMs = server.child.cpuMs() - cpuBefore;
        check(run.errors === 0 && run.timeouts === 0, `${server.child.name}: ${run.errors} connection error(s), ${run.timeouts} timeout(s)`);
        check(run.non2xx === 0, `${server.child.name}: ${run.non2xx} response(s) were not 2xx`);
        const least = run['2xx'] * request.jobsPerRequest;
        const most = (run['2xx'] + request.connections) * request.jobsPerRequest;
        check(
          waiting >= least && waiting <= most,
          `${server.child.name}: ${run['2xx']} accepted request(s) should have added ${least} jobs (up to ${most} with those in flight at the end), ` +
            `Redis has ${waiting}`,
        );
        const elapsedS = run.duration;
        const measured: HttpRun = {
          requestsPerSec: run['2xx'] / elapsedS,
          jobsPerSec: (run['2xx'] * request.jobsPerRequest) / elapsedS,
          latencyP99Ms: run.latency.p99,
          ok: run['2xx'],
          cpuUsPerJob: (cpuMs * 1000) / Math.max(waiting, 1),
        };
        result[server.side].push(measured);
        log(
          `  round ${round_} ${server.side}: ${round(measured.requestsPerSec, 0)} req/s, ${round(measured.jobsPerSec, 0)} jobs/s, ` +
            `p99 ${measured.latencyP99Ms} ms, ${round(measured.cpuUsPerJob, 0)} CPU µs per job`,
        );
      }
    }
    return result;
  } finally {
    await Promise.all(servers.map((server) => server.child.stop()));
  }
}

export function summarize(runs: HttpRun[]) {
  return {
    requestsPerSec: round(median(runs.map((run) => run.requestsPerSec)), 0),
    jobsPerSec: round(median(runs.map((run) => run.jobsPerSec)), 0),
    latencyP99Ms: round(median(runs.map((run) => run.latencyP99Ms)), 1),
    serverCpuUsPerJob: round(median(runs.map((run) => run.cpuUsPerJob)), 1),
    runsRequestsPerSec: runs.map((run) => round(run.requestsPerSec, 0)),
  };
}

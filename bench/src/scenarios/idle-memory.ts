import { setTimeout as sleep } from 'node:timers/promises';
import { API_TOKEN, appEnv, markInitDone, startSchedulerApp, stopAll, waitForWorkers, waitHttpReady } from '../support/apps.js';
import { entries, NodeProcess } from '../support/node-process.js';
import { freePort, type RedisServer } from '../support/redis-server.js';
import { check, type BenchContext, type Measured, type Scenario } from '../support/scenario.js';
import { median, mib, round } from '../support/stats.js';

const PREFIX = 'bench-idle';
const MAX_RSS_MIB = 150;
/** The queues of the test jobs: the Drumline worker takes all of them by default, so the bare one does too. */
const QUEUES = 'email,maintenance,reports,default';

/** Median RSS of each process over samples a second apart, after `idleS` seconds of doing nothing. */
async function idleRss(processes: Record<string, NodeProcess>, idleS: number, sampleCount: number): Promise<Record<string, number>> {
  await sleep(idleS * 1000);
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(processes).map((name) => [name, []]));
  for (let sample = 0; sample < sampleCount; sample += 1) {
    for (const [name, child] of Object.entries(processes)) {
      check(child.running, `${child.name} exited while idle:\n${child.tail()}`);
      samples[name]?.push(child.rssBytes());
    }
    await sleep(1000);
  }
  return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, mib(median(values))]));
}

async function drumline(redis: RedisServer, idleS: number, samples: number): Promise<Record<string, number>> {
  await redis.flush();
  await markInitDone(redis.client, PREFIX);
  const port = await freePort();
  const web = NodeProcess.start(
    'drumline web',
    entries.web,
    appEnv(redis, PREFIX, { PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER: 'bench', DASHBOARD_PASSWORD: 'bench-password-123' }),
  );
  const worker = NodeProcess.start('drumline worker', entries.worker, appEnv(redis, PREFIX));
  const scheduler = startSchedulerApp(redis, PREFIX);
  try {
    await Promise.all([
      waitHttpReady(web, `http://127.0.0.1:${port}/readyz`),
      waitForWorkers(redis, PREFIX, 'default', 1, 20_000, [worker]),
      scheduler.waitForMsg('materializing schedules', 30_000),
    ]);
    return await idleRss({ web, worker, scheduler }, idleS, samples);
  } finally {
    await stopAll([web, worker, scheduler]);
  }
}

async function baseline(redis: RedisServer, idleS: number, samples: number): Promise<Record<string, number>> {
  await redis.flush();
  const port = await freePort();
  const env = { REDIS_URL: redis.url, KEY_PREFIX: PREFIX };
  const web = NodeProcess.start('bare fastify', entries.bareWeb, { ...env, PORT: String(port), JOB_OPTS: '{}' });
  const worker = NodeProcess.start('bare worker', entries.bareWorker, { ...env, QUEUES });
  const scheduler = NodeProcess.start('bare producer', entries.bareProducer, { ...env, QUEUES });
  try {
    await Promise.all([
      waitHttpReady(web, `http://127.0.0.1:${port}/readyz`),
      waitForWorkers(redis, PREFIX, 'default', 1, 20_000, [worker]),
      scheduler.waitForMsg('ready', 20_000),
    ]);
    return await idleRss({ web, worker, scheduler }, idleS, samples);
  } finally {
    await stopAll([web, worker, scheduler]);
  }
}

export const idleMemory: Scenario = {
  name: 'idle-memory',
  target: `RSS of each idle process (web, worker, scheduler) < ${MAX_RSS_MIB} MB`,
  async run({ redis, quick, log }: BenchContext): Promise<Measured> {
    const idleS = quick ? 2 : 10;
    const samples = quick ? 3 : 5;
    const d = await drumline(redis, idleS, samples);
    log(`  drumline: web ${d.web} MiB, worker ${d.worker} MiB, scheduler ${d.scheduler} MiB`);
    const b = await baseline(redis, idleS, samples);
    log(`  baseline: web ${b.web} MiB, worker ${b.worker} MiB, producer ${b.scheduler} MiB`);
    const sum = (figures: Record<string, number>) => Object.values(figures).reduce((total, value) => total + value, 0);
    const over = Object.entries(d).filter(([, value]) => value >= MAX_RSS_MIB);
    return {
      drumline: { webMiB: d.web, workerMiB: d.worker, schedulerMiB: d.scheduler, idleS },
      baseline: { webMiB: b.web, workerMiB: b.worker, producerMiB: b.scheduler, idleS },
      ratio: round(sum(b) / sum(d), 3),
      ratioOf: 'the baseline processes’ total RSS ÷ Drumline’s',
      pass: over.length === 0,
      ...(over.length > 0 ? { missed: over.map(([name, value]) => `${name} ${value} MiB`).join('; ') } : {}),
      summary: {
        drumline: `web ${d.web}, worker ${d.worker}, scheduler ${d.scheduler} MiB`,
        baseline: `bare web ${b.web}, bare worker ${b.worker}, producer ${b.scheduler} MiB`,
      },
      method:
        `Each app started as compose would (\`node apps/<app>/dist/main.js\`, LOG_LEVEL=warn, the scheduler at info) with the real job list, ` +
        `left idle ${idleS} s after it was ready (readyz 200, worker connected, scheduler materializing), then VmRSS sampled ${samples} times a second apart; ` +
        `the median is reported. Baseline: bare Fastify + Queue, a bare Worker on the same 4 queues, and, for the scheduler, a process holding a ` +
        `Queue per queue that upserted one job scheduler each (bare BullMQ runs no scheduler process).`,
    };
  },
};
